#!/usr/bin/env bash
# Builds the node as bin/flowmesh-node and runs it; arguments are passed on,
# e.g. scripts/run-node.sh --data-dir /tmp/fm --log-format json.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/flowmesh-node ./cmd/node
exec bin/flowmesh-node "$@"
