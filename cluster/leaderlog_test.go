package cluster

import (
	"fmt"
	"testing"
	"time"
)

// TestLeaderLogRing: the log keeps the last LeaderLogSize changes newest
// first, counts every one, and a repeat of the current leader is no change.
func TestLeaderLogRing(t *testing.T) {
	var l leaderLog
	if got, n := l.list(); len(got) != 0 || n != 0 {
		t.Fatalf("empty log lists %v, %d", got, n)
	}
	const total = LeaderLogSize + 13
	for i := range total {
		id := fmt.Sprintf("n%d", i)
		l.add(LeaderChange{Term: uint64(i), LeaderID: id})
		l.add(LeaderChange{Term: uint64(i), LeaderID: id}) // the same leader again
	}
	got, n := l.list()
	if n != total {
		t.Errorf("recorded %d changes, want %d", n, total)
	}
	if len(got) != LeaderLogSize {
		t.Fatalf("kept %d changes, want %d", len(got), LeaderLogSize)
	}
	for i, ch := range got {
		if want := uint64(total - 1 - i); ch.Term != want {
			t.Fatalf("change %d has term %d, want %d (newest first)", i, ch.Term, want)
		}
	}
	l.add(LeaderChange{LeaderID: ""}) // lost the leader
	if got, _ := l.list(); got[0].LeaderID != "" || got[1].LeaderID != fmt.Sprintf("n%d", total-1) {
		t.Fatalf("after losing the leader the newest changes are %+v, %+v", got[0], got[1])
	}
}

// TestLeaderChangesObserved: a single node records its own election.
func TestLeaderChangesObserved(t *testing.T) {
	c := startNode(t, testConfig(t, t.TempDir()), newCounterFSM(t.TempDir(), false))
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, n := c.LeaderChanges()
		if n > 0 && got[0].LeaderID == "n1" && got[0].Term > 0 && got[0].Addr != "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("leader changes %+v (%d): want n1 as the newest", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
