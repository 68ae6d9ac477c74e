package fsm

import "github.com/flowmesh/flowmesh/internal/faults"

// bugs are the deliberate bugs and the crash failpoint of the
// flowmesh_faults build that live in the FSM (internal/faults), read once
// by Open so that Apply tests a field rather than look names up. Every
// field is zero in every other build.
type bugs struct {
	// doubleApply: Open and Restore forget the checkpoint's replay guard
	// and request-dedup window, so replayed entries apply a second time.
	doubleApply bool
	// halfTxn: a transaction whose then-branch ran applies all of its ops
	// but the last (when it has two or more and the last is a write).
	halfTxn bool
	// noFence: every compare of a KV key's create revision holds, so a
	// lock holder's fenced write is accepted after it lost the lock.
	noFence bool
	// beforeApply runs before a batch of committed entries is applied
	// (the crash-before-apply failpoint); nil when it is not armed.
	beforeApply func()
}

func loadBugs() bugs {
	return bugs{
		doubleApply: faults.Enabled("double-apply"),
		halfTxn:     faults.Enabled("half-txn"),
		noFence:     faults.Enabled("no-fence"),
		beforeApply: faults.CrashBeforeApply(),
	}
}
