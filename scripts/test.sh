#!/usr/bin/env bash
# The project's test command (README). Runs every package's tests with the
# race detector off for speed on 2 cores; the long fault runs live elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -count=1 -timeout 14m ./... "$@"
