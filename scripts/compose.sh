#!/usr/bin/env bash
# Builds the FlowMesh image and runs the three-node docker-compose cluster.
#
#   scripts/compose.sh build   # static binaries on the host, then the FROM-scratch image
#   scripts/compose.sh up      # build, start the cluster, wait until every node is ready
#   scripts/compose.sh down    # stop it and delete its containers, network and volumes
#   scripts/compose.sh smoke   # CI: build, up, write, stop the leader, write and read
#                              # again, restart it, always tear down
#
# Nothing is pulled: the image is FROM scratch around bin/flowmesh-node and
# bin/flowmesh. FLOWMESH_IMAGE names the image (default flowmesh:local);
# FLOWMESH_COMPOSE_PROJECT the compose project (default flowmesh; smoke uses
# its own, with host ports picked by Docker, so it never clashes with a
# running cluster). FLOWMESH_READY_TIMEOUT bounds the wait for /readyz
# (seconds, default 120).
set -euo pipefail
cd "$(dirname "$0")/.."

export FLOWMESH_IMAGE=${FLOWMESH_IMAGE:-flowmesh:local}
project=${FLOWMESH_COMPOSE_PROJECT:-flowmesh}
services=(node1 node2 node3)
all_endpoints=node1:7400,node2:7400,node3:7400

if docker compose version >/dev/null 2>&1; then
	compose_bin=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
	compose_bin=(docker-compose)
else
	echo "compose.sh: neither 'docker compose' nor docker-compose is installed" >&2
	exit 1
fi
dc() { "${compose_bin[@]}" -p "$project" -f docker-compose.yml "$@"; }

log() { echo "compose.sh: $*"; }

build() {
	local version
	version=$(git describe --always --dirty 2>/dev/null || echo dev)
	log "building static binaries ($version)"
	local ld="-s -w -X github.com/flowmesh/flowmesh/internal/buildinfo.version=$version"
	CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o bin/flowmesh-node ./cmd/node
	CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o bin/flowmesh ./cmd/flowmesh
	log "building image $FLOWMESH_IMAGE"
	docker build -q -t "$FLOWMESH_IMAGE" . >/dev/null
}

container() { dc ps -q "$1"; }

# cli SERVICE ARGS...: runs the flowmesh CLI inside SERVICE's container,
# where the service names resolve.
cli() {
	local svc=$1
	shift
	docker exec "$(container "$svc")" /flowmesh --endpoints "$all_endpoints" --timeout 30s "$@"
}

# ca_file: the cluster's CA certificate, copied out of a node's /tls (the
# volume the certs service fills) into a temporary file on the host.
ca_file=""
fetch_ca() {
	[ -n "$ca_file" ] && [ -s "$ca_file" ] && return 0
	local c
	c=$(container "$1")
	[ -n "$c" ] || return 1
	ca_file=${ca_file:-$(mktemp)}
	docker cp "$c:/tls/ca.crt" - 2>/dev/null | tar -xO >"$ca_file" 2>/dev/null && [ -s "$ca_file" ]
}

# wait_ready SERVICE...: until /readyz answers 200 (over TLS, verified with
# the cluster's CA) through each published port.
wait_ready() {
	local deadline=$((SECONDS + ${FLOWMESH_READY_TIMEOUT:-120})) svc pending addr
	while :; do
		pending=""
		for svc in "$@"; do
			addr=$(dc port "$svc" 7403 2>/dev/null | tail -n 1)
			if [ -z "$addr" ] || ! fetch_ca "$svc" ||
				[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$ca_file" "https://$addr/readyz")" != 200 ]; then
				pending+=" $svc"
			fi
		done
		if [ -z "$pending" ]; then
			log "ready:$(printf ' %s' "$@")"
			return 0
		fi
		if [ $SECONDS -ge $deadline ]; then
			log "not ready after ${FLOWMESH_READY_TIMEOUT:-120}s:$pending" >&2
			dc logs --tail 30 >&2 || true
			return 1
		fi
		sleep 0.5
	done
}

# expect WANT ARGS...: runs the CLI in node of $via and checks its output.
expect() {
	local want=$1 got
	shift
	got=$(cli "$via" "$@")
	if [ "$got" != "$want" ]; then
		log "FAIL: flowmesh $* in $via printed '$got', want '$want'" >&2
		return 1
	fi
}

# host_status: cluster status from the host through the published gRPC
# ports, as the admin client certificate (copied out of node1's /tls): every
# node must show healthy and the command exit 0 (the nodes advertise
# node1:7400..., which do not resolve on the host).
host_status() {
	local dir c svc eps="" out
	dir=$(mktemp -d)
	c=$(container node1)
	for f in ca.crt client.crt client.key; do
		(umask 077; docker cp "$c:/tls/$f" - | tar -xO >"$dir/$f")
	done
	for svc in "${services[@]}"; do
		eps="$eps${eps:+,}$(dc port "$svc" 7400 | tail -n 1)"
	done
	if ! out=$(bin/flowmesh --endpoints "$eps" --cacert "$dir/ca.crt" --cert "$dir/client.crt" --key "$dir/client.key" \
		--timeout 30s cluster status -o json); then
		rm -rf "$dir"
		log "FAIL: cluster status from the host through $eps exited non-zero:" >&2
		echo "$out" >&2
		return 1
	fi
	rm -rf "$dir"
	if [ "$(grep -o '"health": *"healthy"' <<<"$out" | wc -l)" != "${#services[@]}" ] || grep -q unreachable <<<"$out"; then
		log "FAIL: cluster status from the host through $eps:" >&2
		echo "$out" >&2
		return 1
	fi
	log "cluster status from the host through $eps: ${#services[@]} nodes healthy"
}

leader_of() {
	# The leader's ID as node $1 sees it (IDs are the service names).
	cli "$1" cluster status -o json | tr -d ' \n' | sed -n 's/.*"leader_id":"\([^"]*\)".*/\1/p'
}

smoke() {
	project=${FLOWMESH_COMPOSE_PROJECT:-flowmesh-smoke-$$}
	# Empty host ports: Docker picks free ones.
	export FLOWMESH_NODE1_GRPC_PORT= FLOWMESH_NODE2_GRPC_PORT= FLOWMESH_NODE3_GRPC_PORT=
	export FLOWMESH_NODE1_HTTP_PORT= FLOWMESH_NODE2_HTTP_PORT= FLOWMESH_NODE3_HTTP_PORT=
	trap 'rc=$?; [ $rc -ne 0 ] && dc logs --tail 40 >&2; log "tearing down $project"; dc down -v --remove-orphans -t 10 >/dev/null 2>&1 || true; [ -n "$ca_file" ] && rm -f "$ca_file"; exit $rc' EXIT
	build
	dc up -d >/dev/null
	wait_ready "${services[@]}"

	host_status

	via=node1
	cli node1 kv create smoke/ns/cfg >/dev/null
	cli node1 stream create smoke/ns/events --partitions 1 >/dev/null
	cli node2 kv put smoke/ns/cfg before hello >/dev/null
	cli node3 stream write smoke/ns/events first >/dev/null
	expect hello kv get smoke/ns/cfg before

	local leader
	leader=$(leader_of node1)
	case " ${services[*]} " in *" $leader "*) ;; *) log "FAIL: no leader ('$leader')" >&2; return 1 ;; esac
	log "stopping the leader, $leader"
	dc stop -t 20 "$leader" >/dev/null
	local survivors=()
	for svc in "${services[@]}"; do [ "$svc" = "$leader" ] || survivors+=("$svc"); done

	via=${survivors[0]}
	cli "$via" kv put smoke/ns/cfg after world >/dev/null
	cli "${survivors[1]}" stream write smoke/ns/events second >/dev/null
	expect hello kv get smoke/ns/cfg before
	expect world kv get smoke/ns/cfg after
	via=${survivors[1]}
	expect world kv get smoke/ns/cfg after
	cli "$via" stream read smoke/ns/events --offset 0 -o json | grep -q '"second"\|c2Vjb25k' || {
		log "FAIL: stream read after failover misses the second event" >&2
		cli "$via" stream read smoke/ns/events --offset 0 >&2
		return 1
	}
	log "new leader: $(leader_of "$via")"

	# Without the client certificate the cluster refuses the call.
	if docker exec -e FLOWMESH_CERT= -e FLOWMESH_KEY= "$(container "$via")" /flowmesh --endpoints "$all_endpoints" --timeout 10s kv get smoke/ns/cfg after >/dev/null 2>&1; then
		log "FAIL: a call without credentials was served" >&2
		return 1
	fi
	log "restarting $leader"
	dc start "$leader" >/dev/null
	wait_ready "${services[@]}"
	via=$leader
	expect world kv get smoke/ns/cfg after
	log "smoke test passed"
}

case ${1:-} in
build) build ;;
up)
	build
	dc up -d
	wait_ready "${services[@]}"
	log "try: docker exec \$(${compose_bin[*]} -p $project ps -q node1) /flowmesh --endpoints $all_endpoints cluster status"
	;;
down) dc down -v --remove-orphans ;;
smoke) smoke ;;
*)
	sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
