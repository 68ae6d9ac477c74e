#!/usr/bin/env bash
# Runs the real-process cluster tests of test/cluster alone (formation,
# leader kill under writes, catch-up from the log and from a snapshot,
# minority partition, rolling restart, membership changes); scripts/test.sh
# runs them too, among every package's tests. The nodes run secure (certs
# init, --tls-dir; the harness's clients use TLS and the admin client
# certificate); FLOWMESH_INSECURE=1 runs them plaintext. Arguments go to
# go test, e.g. scripts/cluster-tests.sh -run Rolling -v.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go test -count=1 -timeout 15m ./test/cluster "$@"
