#!/usr/bin/env bash
# Fails when the committed rpc/flowmeshpb is not what scripts/gen-proto.sh
# produces from proto/. The protoc version line in the file headers is
# ignored, so a different Debian protoc does not count as stale.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

scripts/gen-proto.sh "$tmp"
for dir in rpc/flowmeshpb fsm/fsmpb; do
	if ! diff -ru -x '*.proto' -I '^//[[:space:]]*protoc[[:space:]]' "$dir" "$tmp/$dir"; then
		echo "check-generated: $dir is stale; run scripts/gen-proto.sh and commit the result" >&2
		exit 1
	fi
done
