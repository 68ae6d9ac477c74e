#!/usr/bin/env bash
# Runs a local FlowMesh cluster of node processes on 127.0.0.1.
#
#   scripts/cluster.sh up     [--dir DIR] [--nodes N] [--base-port P] [-- NODE FLAGS...]
#   scripts/cluster.sh down   [--dir DIR]
#   scripts/cluster.sh status [--dir DIR]
#   scripts/cluster.sh logs   [--dir DIR] [K]       # all logs, or node K's, followed
#   scripts/cluster.sh stop K [--dir DIR]           # SIGTERM one node
#   scripts/cluster.sh start K [--dir DIR] [-- NODE FLAGS...]  # start one stopped node again
#                                                   # (with the NODE FLAGS of `up` unless given)
#
# Node K (1..N) listens on gRPC P+10(K-1), raft +1, gossip +2, HTTP admin +3
# (P = 7400: 7400/7410/7420 for gRPC, 7403/7413/7423 for /readyz). Every node
# starts with --bootstrap-expect N and --join naming the other nodes' gossip
# ports, so any subset restarts and rejoins. Data lives in DIR/nodeK, logs in
# DIR/nodeK.log, PIDs in DIR/nodeK.pid; DIR/cluster.env records N, P and
# the NODE FLAGS for the other verbs. `up` builds bin/flowmesh-node and bin/flowmesh (set
# FLOWMESH_NO_BUILD=1 to skip) and waits, bounded by FLOWMESH_UP_TIMEOUT
# seconds (default 60), until /readyz answers 200 on every node; if it does
# not, it stops the nodes it started and fails. `down` sends SIGTERM, waits
# up to FLOWMESH_DOWN_TIMEOUT seconds (default 20), then SIGKILLs what is
# left; it keeps the data (remove DIR to start afresh).
#
# The cluster is secure unless asked otherwise: `up` makes DIR/tls once with
# `flowmesh-node certs init` (gRPC and HTTP admin over TLS, raft over mutual
# TLS, gossip encrypted with DIR/tls/gossip.key, authentication with
# DIR/tls/auth, where the client certificate DIR/tls/client.crt is
# cluster-admin; so is the bearer token `up` adds and writes to
# DIR/admin.token), and starts every node with --tls-dir DIR/tls. `eval "$(scripts/cluster.sh env
# --dir DIR)"` sets FLOWMESH_ENDPOINTS, FLOWMESH_CACERT, FLOWMESH_CERT and
# FLOWMESH_KEY for the CLI. `up --insecure` (or FLOWMESH_INSECURE=1) runs
# plaintext without authentication, as the peers benchmark harness expects;
# the choice is remembered for the other verbs.
#
#   scripts/cluster.sh env    [--dir DIR]           # export lines for the CLI
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

dir=${FLOWMESH_CLUSTER_DIR:-$root/.cluster}
nodes=3
base=7400
insecure=${FLOWMESH_INSECURE:-}
verb=${1:-}
[ $# -gt 0 ] && shift
target=""
extra=()
while [ $# -gt 0 ]; do
	case $1 in
	--dir) dir=$2; shift 2 ;;
	--dir=*) dir=${1#--dir=}; shift ;;
	--nodes) nodes=$2; shift 2 ;;
	--nodes=*) nodes=${1#--nodes=}; shift ;;
	--base-port) base=$2; shift 2 ;;
	--base-port=*) base=${1#--base-port=}; shift ;;
	--insecure) insecure=1; shift ;;
	--) shift; extra=("$@"); break ;;
	[0-9]*) target=$1; shift ;;
	*) echo "cluster.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

node_bin=$root/bin/flowmesh-node
cli_bin=$root/bin/flowmesh

# A cluster that is up remembers its shape and its node flags; the other
# verbs read them (`start K -- FLAGS` gives node K other flags instead).
if [ "$verb" != up ] && [ -f "$dir/cluster.env" ]; then
	given=(${extra[@]+"${extra[@]}"})
	# shellcheck disable=SC1091
	. "$dir/cluster.env"
	if [ ${#given[@]} -gt 0 ]; then
		extra=("${given[@]}")
	fi
fi
tls=1
[ -n "$insecure" ] && [ "$insecure" != 0 ] && tls=""

grpc_port() { echo $((base + 10 * ($1 - 1))); }
http_addr() { echo "127.0.0.1:$(($(grpc_port "$1") + 3))"; }
pid_of() {
	local f=$dir/node$1.pid
	[ -f "$f" ] || return 1
	local pid
	pid=$(cat "$f")
	kill -0 "$pid" 2>/dev/null || return 1
	echo "$pid"
}

endpoints() {
	local k out=""
	for k in $(seq 1 "$nodes"); do out+="${out:+,}127.0.0.1:$(grpc_port "$k")"; done
	echo "$out"
}

start_node() {
	local k=$1 p join="" j
	p=$(grpc_port "$k")
	if pid_of "$k" >/dev/null; then
		echo "node$k is already running (pid $(pid_of "$k"))"
		return
	fi
	for j in $(seq 1 "$nodes"); do
		[ "$j" = "$k" ] || join+="${join:+,}127.0.0.1:$(($(grpc_port "$j") + 2))"
	done
	local args=(
		--id "node$k"
		--data-dir "$dir/node$k"
		--grpc-addr "127.0.0.1:$p"
		--raft-addr "127.0.0.1:$((p + 1))"
		--gossip-addr "127.0.0.1:$((p + 2))"
		--http-addr "127.0.0.1:$((p + 3))"
		--bootstrap-expect "$nodes"
	)
	[ -n "$join" ] && args+=(--join "$join")
	[ -n "$tls" ] && args+=(--tls-dir "$dir/tls")
	args+=(${extra[@]+"${extra[@]}"})
	mkdir -p "$dir/node$k"
	# setsid: the node has its own process group, so a Ctrl-C in this
	# shell does not reach it and `down` decides how it ends.
	setsid "$node_bin" "${args[@]}" >>"$dir/node$k.log" 2>&1 </dev/null &
	echo $! >"$dir/node$k.pid"
	echo "node$k: pid $! grpc 127.0.0.1:$p http $(http_addr "$k") data $dir/node$k"
}

# admin_url K PATH: curl options and URL of PATH on node K's admin port.
admin_url() {
	if [ -n "$tls" ]; then
		echo "--cacert $dir/tls/ca.crt https://$(http_addr "$1")$2"
	else
		echo "http://$(http_addr "$1")$2"
	fi
}

# cli_tls: the CLI's TLS flags, if any.
cli_tls() { [ -n "$tls" ] && echo "--cacert $dir/tls/ca.crt --cert $dir/tls/client.crt --key $dir/tls/client.key" || true; }

# shellcheck disable=SC2046
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 $(admin_url "$1" /readyz) 2>/dev/null)" = 200 ]; }

wait_ready() {
	local deadline=$((SECONDS + ${FLOWMESH_UP_TIMEOUT:-60})) k pending
	while :; do
		pending=""
		for k in "$@"; do
			if ! pid_of "$k" >/dev/null; then
				echo "node$k exited; last log lines:" >&2
				tail -n 20 "$dir/node$k.log" >&2
				return 1
			fi
			ready "$k" || pending+=" node$k"
		done
		[ -z "$pending" ] && return 0
		if [ $SECONDS -ge $deadline ]; then
			echo "not ready after ${FLOWMESH_UP_TIMEOUT:-60}s:$pending" >&2
			for k in $pending; do echo "--- ${k}.log" >&2; tail -n 20 "$dir/$k.log" >&2; done
			return 1
		fi
		sleep 0.2
	done
}

stop_node() {
	local k=$1 pid deadline
	pid=$(pid_of "$k") || { rm -f "$dir/node$k.pid"; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + ${FLOWMESH_DOWN_TIMEOUT:-20}))
	while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		echo "node$k (pid $pid) still running after ${FLOWMESH_DOWN_TIMEOUT:-20}s: SIGKILL" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$dir/node$k.pid"
	echo "node$k stopped"
}

build() {
	[ -n "${FLOWMESH_NO_BUILD:-}" ] && [ -x "$node_bin" ] && return
	echo "building bin/flowmesh-node and bin/flowmesh"
	local ld="-X github.com/flowmesh/flowmesh/internal/buildinfo.version=$(git describe --always --dirty 2>/dev/null || echo dev)"
	go build -ldflags "$ld" -o "$node_bin" ./cmd/node
	go build -ldflags "$ld" -o "$cli_bin" ./cmd/flowmesh
}

case $verb in
up)
	build
	{
		printf 'nodes=%s\nbase=%s\ninsecure=%s\n' "$nodes" "$base" "$insecure"
		if [ ${#extra[@]} -gt 0 ]; then
			printf 'extra=(%s)\n' "$(printf '%q ' "${extra[@]}")"
		else
			echo 'extra=()'
		fi
	} >"$dir/cluster.env"
	if [ -n "$tls" ]; then
		if [ ! -f "$dir/tls/ca.crt" ]; then
			"$node_bin" certs init "$dir/tls" >/dev/null 2>&1
			# A bearer token for SDK programs, cluster-admin like the
			# CLI's client certificate.
			(umask 077 && "$node_bin" token add --file "$dir/tls/auth" --subject admin-token --grant cluster-admin >"$dir/admin.token")
		fi
	else
		echo "cluster.sh: --insecure: plaintext and no authentication; anyone who reaches the ports owns the data" >&2
	fi
	started=()
	for k in $(seq 1 "$nodes"); do
		pid_of "$k" >/dev/null || started+=("$k")
		start_node "$k"
	done
	if ! wait_ready $(seq 1 "$nodes"); then
		for k in ${started[@]+"${started[@]}"}; do stop_node "$k"; done
		exit 1
	fi
	echo "cluster ready: --endpoints $(endpoints) $(cli_tls)"
	echo "try: eval \"\$(scripts/cluster.sh env --dir $dir)\"; $cli_bin cluster status"
	if [ -n "$tls" ]; then
		echo "SDK: client.Config{TLS: (trust $dir/tls/ca.crt), Token: (the contents of $dir/admin.token)}"
	fi
	;;
env)
	echo "export FLOWMESH_ENDPOINTS=$(endpoints)"
	if [ -n "$tls" ]; then
		echo "export FLOWMESH_CACERT=$dir/tls/ca.crt FLOWMESH_CERT=$dir/tls/client.crt FLOWMESH_KEY=$dir/tls/client.key"
	fi
	;;
down)
	for k in $(seq 1 "$nodes"); do stop_node "$k" & done
	wait
	;;
stop)
	[ -n "$target" ] || { echo "cluster.sh stop K" >&2; exit 2; }
	stop_node "$target"
	;;
start)
	[ -n "$target" ] || { echo "cluster.sh start K" >&2; exit 2; }
	[ -x "$node_bin" ] || build
	start_node "$target"
	wait_ready "$target"
	;;
status)
	if [ -x "$cli_bin" ] && "$cli_bin" cluster --help 2>/dev/null | grep -q '^  members'; then
		# shellcheck disable=SC2046
		"$cli_bin" --endpoints "$(endpoints)" $(cli_tls) cluster status || true
	else
		for k in $(seq 1 "$nodes"); do
			if pid=$(pid_of "$k"); then
				# shellcheck disable=SC2046
				code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 $(admin_url "$k" /readyz) || true)
				echo "node$k pid $pid readyz $code"
				# shellcheck disable=SC2046
				[ -x "$cli_bin" ] && "$cli_bin" --endpoints "127.0.0.1:$(grpc_port "$k")" $(cli_tls) --timeout 3s cluster status 2>&1 | sed 's/^/  /' || true
			else
				echo "node$k not running"
			fi
		done
	fi
	;;
logs)
	if [ -n "$target" ]; then
		tail -n 50 -F "$dir/node$target.log"
	else
		tail -n 20 -F "$dir"/node*.log
	fi
	;;
*)
	sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'
	[ -z "$verb" ] && exit 2
	[ "$verb" = help ] || [ "$verb" = -h ] || [ "$verb" = --help ] || exit 2
	;;
esac
