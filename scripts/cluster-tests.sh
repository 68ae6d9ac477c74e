#!/usr/bin/env bash
# Runs the slow real-process cluster tests of test/cluster (leader kill
# under writes, snapshot catch-up, minority partition, rolling restart,
# membership changes); `go test ./...` runs only the quick formation test.
# Arguments go to go test, e.g. scripts/cluster-tests.sh -run Rolling -v.
set -euo pipefail
cd "$(dirname "$0")/.."
FLOWMESH_CLUSTER_TESTS=1 exec go test -count=1 -timeout 15m ./test/cluster "$@"
