package nodeadmin

import "fmt"

// Readiness states, stable for scripts (the node status carries them).
const (
	ReadyStateReady      = "ready"
	ReadyStateShutdown   = "shutdown"
	ReadyStateJoining    = "joining"     // no raft configuration yet: waiting to be bootstrapped or added
	ReadyStateRemoved    = "removed"     // not in the raft configuration this node knows
	ReadyStateNoLeader   = "no-leader"   // no leader, or none in contact with this node
	ReadyStateCatchingUp = "catching-up" // applied index below the leader's
)

// Readiness is whether a node can serve calls with current state, and if
// not why (storage.Storage.Ready decides it).
type Readiness struct {
	Ready bool
	State string // a ReadyState constant
	// Reason says why the node is not ready, for an operator ("" when
	// ready).
	Reason string
	// Applied is this node's applied index and Target the leader's index
	// it must reach, while catching up.
	Applied, Target uint64
	// AwaitingReadd: the node is (or seems to be) out of the raft
	// configuration while alive in gossip, where the leader adds it back
	// (about a minute after a remove-peer).
	AwaitingReadd bool
}

// Behind is how many entries the node must still apply (catching up).
func (r Readiness) Behind() uint64 {
	if r.Target > r.Applied {
		return r.Target - r.Applied
	}
	return 0
}

// Summary is a short form for a status table: "ready", "catching up 4880
// entries", "removed, awaiting re-add", "no leader", ...
func (r Readiness) Summary() string {
	switch r.State {
	case ReadyStateReady:
		return "ready"
	case ReadyStateCatchingUp:
		if n := r.Behind(); n > 0 {
			return fmt.Sprintf("catching up %d entries", n)
		}
		return "catching up"
	case ReadyStateRemoved:
		if r.AwaitingReadd {
			return "removed, awaiting re-add"
		}
		return "removed"
	case ReadyStateNoLeader:
		if r.AwaitingReadd {
			return "no leader (removed? awaiting re-add)"
		}
		return "no leader"
	case ReadyStateJoining:
		return "joining"
	case ReadyStateShutdown:
		return "shutdown"
	}
	return r.State
}
