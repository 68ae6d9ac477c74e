package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func statusOf(t *testing.T, m *Membership, id string) string {
	t.Helper()
	mb, ok := m.Member(id)
	if !ok {
		t.Fatalf("%s does not know %s", m.cfg.Name, id)
	}
	return mb.Status
}

// nodeOf is m's memberlist record of the member named id.
func nodeOf(t *testing.T, m *Membership, id string) *memberlist.Node {
	t.Helper()
	for _, n := range m.ml.Members() {
		if n.Name == id {
			return n
		}
	}
	t.Fatalf("%s has no gossip record of %s", m.cfg.Name, id)
	return nil
}

func drainChanges(m *Membership) {
	select {
	case <-m.Changes():
	default:
	}
}

// TestLeaveNoticeMakesADepartureALeave: memberlist's leave notification
// does not tell a leave from a death, and the leaving flag in the metadata
// can arrive after the leave itself. The leave notice a leaving node sends
// every member decides, whichever arrives first.
func TestLeaveNoticeMakesADepartureALeave(t *testing.T) {
	ms := startGossip(t, 3, nil)
	a := ms[0]
	ev, dl := (*mlEvents)(a), (*mlDelegate)(a)

	// The departure first, the notice after: dead, then left (and the
	// leader's reconciler is woken).
	ev.NotifyLeave(nodeOf(t, a, "g2"))
	if s := statusOf(t, a, "g2"); s != StatusDead {
		t.Fatalf("g2 after a departure without notice: %s, want %s", s, StatusDead)
	}
	drainChanges(a)
	dl.NotifyMsg(append([]byte{leaveNoticeMsg}, "g2"...))
	if s := statusOf(t, a, "g2"); s != StatusLeft {
		t.Fatalf("g2 after its late leave notice: %s, want %s", s, StatusLeft)
	}
	select {
	case <-a.Changes():
	default:
		t.Fatal("a late leave notice did not signal a change")
	}

	// The notice first: the departure is a leave.
	n3 := nodeOf(t, a, "g3")
	dl.NotifyMsg(append([]byte{leaveNoticeMsg}, "g3"...))
	if s := statusOf(t, a, "g3"); s != StatusAlive {
		t.Fatalf("g3 after its notice, before leaving: %s, want %s", s, StatusAlive)
	}
	ev.NotifyUpdate(n3) // a metadata update keeps the notice
	ev.NotifyLeave(n3)
	if s := statusOf(t, a, "g3"); s != StatusLeft {
		t.Fatalf("g3 after notice then departure: %s, want %s", s, StatusLeft)
	}

	// Back again (it joins), the old notice no longer counts.
	ev.NotifyJoin(n3)
	ev.NotifyLeave(n3)
	if s := statusOf(t, a, "g3"); s != StatusDead {
		t.Fatalf("g3 rejoined then gone without notice: %s, want %s", s, StatusDead)
	}

	// Malformed notices and notices about unknown or local members change
	// nothing and never panic.
	before := a.Members()
	for _, b := range [][]byte{nil, {}, {leaveNoticeMsg}, {2, 'g', '1'}, append([]byte{leaveNoticeMsg}, strings.Repeat("x", maxNoticeName+1)...), append([]byte{leaveNoticeMsg}, "nobody"...), append([]byte{leaveNoticeMsg}, "g1"...)} {
		dl.NotifyMsg(b)
	}
	if after := a.Members(); len(after) != len(before) {
		t.Fatalf("members changed on bad notices: %v -> %v", before, after)
	}
	if s := statusOf(t, a, "g1"); s != StatusAlive {
		t.Fatalf("a notice naming the local node changed it: %s", s)
	}
}

// TestLeaveNoticeCrossesTheGossipTransport: the notice goes over the real
// (encrypted) gossip TCP stream to every live member.
func TestLeaveNoticeCrossesTheGossipTransport(t *testing.T) {
	ms := startGossip(t, 3, []byte("0123456789abcdef"))
	ms[2].sendLeaveNotices(5 * time.Second)
	for _, m := range ms[:2] {
		waitUntil(t, m.cfg.Name+" holds g3's leave notice", func() bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			st := m.members["g3"]
			return st != nil && st.leaveNotice
		})
	}

	// And a real Leave is seen as one.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ms[1].Leave(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "g1 sees g2 left", func() bool { return statusOf(t, ms[0], "g2") == StatusLeft })
}
