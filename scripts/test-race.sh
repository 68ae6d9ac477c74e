#!/usr/bin/env bash
# The race detector over the packages with shared state between goroutines:
# the segment store (readers beside the appender), the FSM and the embedded
# node (apply, reads, watches, long polls), the cluster layer, the gRPC
# server and the SDK. test/cluster and the jepsen runner drive separate
# node processes, so -race on them would only check the test binary; they
# run in scripts/test.sh. About 5 minutes on 2 cores; CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -race -count=1 -timeout 20m ./segment ./fsm ./cluster ./storage ./rpc ./client ./internal/... ./jepsen/checker ./cmd/flowmesh "$@"
