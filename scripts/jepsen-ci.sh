#!/usr/bin/env bash
# CI-sized fault-injection suite: each workload (kv, queue, stream, txn,
# lock) under kill, pause and partition faults, about a minute of faults
# each (txn and lock 45s: txn's final drain adds a few seconds, and lock's
# holds are serial, so 45s already gives well over a hundred), on a
# three-node cluster with one network namespace per node. Exits non-zero
# when any run is invalid, unknown, or could not run (unknown counts as a
# failure: a run that decided nothing proved nothing).
#
#   scripts/jepsen-ci.sh [--time 60s] [--seed N] [--workloads "kv queue stream txn:45s lock:45s"] [--nemesis kill,pause,partition]
#
# A workload written name:duration runs for that duration instead of --time.
# A nemesis list with disk or clock faults runs a node built with the
# flowmesh_faults tag (their test-only hooks); .ci/run adds a kv run under
# kill,disk, whose lose-unsynced crash also covers the raft log (raft-wal).
#
# Needs root (namespaces, iptables); installs iproute2 and iptables when
# missing. Without root or working namespaces it warns and runs kill and
# pause faults on loopback (no partitions). Reports go to jepsen/store/<test>/<time>/; the seed of each run
# is printed, and `go run ./jepsen ... --seed N` repeats a run's schedule.
set -euo pipefail
cd "$(dirname "$0")/.."

time=60s
seed=${JEPSEN_SEED:-$(date +%s)}
workloads="kv queue stream txn:45s lock:45s"
nemesis=kill,pause,partition
while [ $# -gt 0 ]; do
	case $1 in
	--time) time=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--workloads) workloads=$2; shift 2 ;;
	--nemesis) nemesis=$2; shift 2 ;;
	*) echo "usage: $0 [--time D] [--seed N] [--workloads \"kv queue stream txn:45s lock:45s\"] [--nemesis LIST]" >&2; exit 2 ;;
	esac
done

# drop_partitions removes the partition faults from $nemesis (loopback
# cannot cut links); kill and pause are left, or run when nothing is.
drop_partitions() {
	nemesis=$(echo "$nemesis" | tr , '\n' | { grep -v '^partition' || true; } | paste -sd, -)
	[ -n "$nemesis" ] || nemesis=kill,pause
}

net=netns
if [ "$(id -u)" != 0 ]; then
	# Without root there are no namespaces: the nodes share loopback, and
	# partitions cannot be made. Kills and pauses still run; say so loudly.
	echo "jepsen-ci: WARNING: not root, so no network namespaces: running on loopback without partitions" >&2
	net=loopback
	drop_partitions
fi
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v iptables >/dev/null || need+=(iptables)
if [ ${#need[@]} -gt 0 ] && [ "$net" = netns ]; then
	echo "jepsen-ci: installing ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >/dev/null ||
		{ apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >/dev/null; }
fi

if [ "$net" = netns ] && ! ip netns list >/dev/null 2>&1; then
	echo "jepsen-ci: WARNING: ip netns does not work here: running on loopback without partitions" >&2
	net=loopback
	drop_partitions
fi

CGO_ENABLED=0 go build -o bin/flowmesh-node ./cmd/node
go build -o bin/jepsen ./jepsen
node=(--binary bin/flowmesh-node)
if echo "$nemesis" | tr , '\n' | grep -qE '^(disk|clock)$'; then
	# Disk (lose-unsynced, crash-before-apply) and clock faults act through
	# the node's test-only hooks: the runner builds the node with the
	# flowmesh_faults tag (bin/flowmesh-node-flowmesh_faults) and arms them.
	node=(--build-tags flowmesh_faults)
fi

failed=()
for entry in $workloads; do
	w=${entry%%:*}
	t=$time
	[ "$w" = "$entry" ] || t=${entry#*:}
	echo "=== jepsen-ci: $w, nemesis $nemesis, $t, seed $seed"
	rc=0
	# The runner bounds itself (fault phase, 60s recovery, 3 min final
	# phase, porcupine timeout); the outer timeout is a last resort.
	timeout --signal=INT --kill-after=30s 15m \
		bin/jepsen --workload "$w" --nemesis "$nemesis" --time "$t" --nodes 3 \
		--seed "$seed" --net "$net" "${node[@]}" || rc=$?
	case $rc in
	0) echo "=== jepsen-ci: $w valid" ;;
	1) echo "=== jepsen-ci: $w INVALID (seed $seed)"; failed+=("$w:invalid") ;;
	2) echo "=== jepsen-ci: $w UNKNOWN (seed $seed)"; failed+=("$w:unknown") ;;
	*) echo "=== jepsen-ci: $w could not run (exit $rc, seed $seed)"; failed+=("$w:exit-$rc") ;;
	esac
	seed=$((seed + 1))
done

if [ ${#failed[@]} -gt 0 ]; then
	echo "jepsen-ci: FAILED: ${failed[*]}" >&2
	exit 1
fi
echo "jepsen-ci: all valid"
