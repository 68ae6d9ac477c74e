#!/usr/bin/env bash
# Failover measurement (issue 5, BENCHMARKS.md): three local node processes,
# continuous KV puts from the SDK, the leader SIGKILLed and restarted
# FLOWMESH_FAILOVER_KILLS times (default 20); prints each round and the p50
# and max time from the kill to the first successful write. The nodes run
# secure, as the test/cluster harness starts them (certs init, --tls-dir,
# TLS and the admin client certificate for the SDK); FLOWMESH_INSECURE=1
# runs them plaintext, to compare.
#
#   scripts/failover-bench.sh            # 20 kills
#   FLOWMESH_FAILOVER_KILLS=5 scripts/failover-bench.sh
#   FLOWMESH_INSECURE=1 scripts/failover-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FLOWMESH_FAILOVER_BENCH=1 go test -count=1 -timeout 40m -run '^TestFailoverBench$' -v ./test/cluster "$@" |
	grep -E '^failover:|round|cluster of|^(ok|FAIL|---)|Error|panic'
