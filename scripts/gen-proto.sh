#!/usr/bin/env bash
# Regenerates rpc/flowmeshpb from proto/flowmesh/v1/*.proto. The one command:
#
#   scripts/gen-proto.sh            # writes into the repository
#   scripts/gen-proto.sh OUTDIR     # writes OUTDIR/rpc/flowmeshpb (check-generated.sh)
#
# Needs protoc (Debian's protobuf-compiler; installed with apt-get when missing
# and running as root) and the pinned plugins below, which are installed with
# `go install` into a versioned cache directory when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.5.1
MODULE=github.com/flowmesh/flowmesh

out_root="${1:-.}"

if ! command -v protoc >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		apt-get update -qq && apt-get install -y -qq protobuf-compiler >/dev/null
	else
		echo "gen-proto: protoc not found; install protobuf-compiler (apt-get install protobuf-compiler)" >&2
		exit 1
	fi
fi

# plugin NAME PACKAGE VERSION WANT: prints the path of a plugin binary whose
# --version output contains WANT, installing it when none is found.
plugin() {
	local name=$1 pkg=$2 version=$3 want=$4
	local cached="${XDG_CACHE_HOME:-$HOME/.cache}/flowmesh/bin/$name-$version"
	for p in "$cached/$name" "$(command -v "$name" 2>/dev/null || true)" "$(go env GOPATH)/bin/$name"; do
		if [ -n "$p" ] && [ -x "$p" ] && "$p" --version 2>/dev/null | grep -q -- "$want"; then
			echo "$p"
			return
		fi
	done
	mkdir -p "$cached"
	if ! GOBIN="$cached" GOFLAGS=-mod=mod go install "$pkg@$version" >&2; then
		echo "gen-proto: cannot install $pkg@$version" >&2
		return 1
	fi
	echo "$cached/$name"
}

gen_go=$(plugin protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go \
	"$PROTOC_GEN_GO_VERSION" "$PROTOC_GEN_GO_VERSION") || exit 1
gen_go_grpc=$(plugin protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc \
	"$PROTOC_GEN_GO_GRPC_VERSION" "${PROTOC_GEN_GO_GRPC_VERSION#v}") || exit 1

mkdir -p "$out_root/rpc/flowmeshpb"
rm -f "$out_root"/rpc/flowmeshpb/*.pb.go
protoc \
	--proto_path=proto \
	--plugin=protoc-gen-go="$gen_go" \
	--plugin=protoc-gen-go-grpc="$gen_go_grpc" \
	--go_out="$out_root" --go_opt=module="$MODULE" \
	--go-grpc_out="$out_root" --go-grpc_opt=module="$MODULE" \
	proto/flowmesh/v1/*.proto

# The FSM's commands and on-disk records (no services).
mkdir -p "$out_root/fsm/fsmpb"
rm -f "$out_root"/fsm/fsmpb/*.pb.go
protoc \
	--proto_path=. \
	--plugin=protoc-gen-go="$gen_go" \
	--go_out="$out_root" --go_opt=module="$MODULE" \
	fsm/fsmpb/fsm.proto
