package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/flowmesh/flowmesh/jepsen/checker"
)

// Replica-check anomaly: after healing and the final phase, nodes that
// applied the same raft index report different state digests
// (ClusterService.StateHash, covering every resource, record, job and key).
const ReplicaStateDivergence = "state-hash-divergence"

// checkReplicas collects every node's state hash once all report the same
// applied index (retrying for up to wait), and compares them. Unknown when
// the indexes never met or a node did not answer.
func checkReplicas(ctx context.Context, cl *Cluster, wait time.Duration) checker.Result {
	res := checker.Result{Valid: checker.Unknown, Anomalies: map[string]int{}, Stats: map[string]int{}}
	deadline := time.Now().Add(wait)
	var last string
	for {
		hashes := map[string]string{}
		indexes := map[uint64]bool{}
		var index uint64
		var failed error
		for i, n := range cl.Nodes() {
			hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			h, idx, err := cl.Direct(i).StateHashOf(hctx, n.GRPC())
			cancel()
			if err != nil {
				failed = fmt.Errorf("%s: %w", n.ID, err)
				break
			}
			hashes[n.ID], indexes[idx], index = h, true, idx
		}
		switch {
		case failed != nil:
			last = failed.Error()
		case len(indexes) > 1:
			last = fmt.Sprintf("applied indexes differ: %v", indexes)
		default:
			res.Stats["applied-index"] = int(index)
			distinct := map[string]bool{}
			for _, h := range hashes {
				distinct[h] = true
			}
			if len(distinct) == 1 {
				res.Valid = checker.Valid
				return res
			}
			res.Valid = checker.Invalid
			res.Anomalies[ReplicaStateDivergence] = len(distinct) - 1
			res.Examples = map[string][]any{ReplicaStateDivergence: {map[string]any{"applied_index": index, "hashes": hashes}}}
			return res
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			res.Notes = append(res.Notes, "no state hashes at one applied index: "+last)
			return res
		}
		time.Sleep(200 * time.Millisecond)
	}
}
