package storage

import "github.com/flowmesh/flowmesh/internal/faults"

// bugs are the deliberate bugs of the flowmesh_faults build that live in
// this package (internal/faults): the node reads FLOWMESH_FAULTS once, when
// it is built, so the write and read paths test a field rather than look
// names up. Every field is false in every other build.
type bugs struct {
	// ackBeforeCommit: a KV put is acknowledged before it commits.
	ackBeforeCommit bool
	// staleLinearizable: linearizable reads are served from local state.
	staleLinearizable bool
}

func loadBugs() bugs {
	return bugs{
		ackBeforeCommit:   faults.Enabled("ack-before-commit"),
		staleLinearizable: faults.Enabled("stale-linearizable"),
	}
}
