package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/flowmesh/flowmesh"
)

// TestFollowerInstallsSnapshot adds a second voter after the leader has
// compacted its log, so raft sends it the snapshot over the TCP transport:
// the leader's store streams it with Open, the follower's sink decodes it
// through Write, and the follower's FSM restores from it.
func TestFollowerInstallsSnapshot(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			cfg1 := testConfig(t, t.TempDir())
			cfg1.TrailingLogs = 2
			fsm1 := newCounterFSM(t.TempDir(), stream)
			c1 := startNode(t, cfg1, fsm1)
			for i := range 25 {
				apply(t, c1, fmt.Sprint(i))
			}
			if err := c1.Snapshot(); err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				apply(t, c1, fmt.Sprint("tail", i))
			}

			cfg2 := testConfig(t, t.TempDir())
			cfg2.ID = "n2"
			cfg2.Bootstrap = false
			fsm2 := newCounterFSM(t.TempDir(), stream)
			c2, err := New(cfg2, fsm2)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c2.Shutdown() })
			addr := string(c2.transport.LocalAddr())
			if err := c1.Raft().AddVoter(raft.ServerID("n2"), raft.ServerAddress(addr), 0, 5*time.Second).Error(); err != nil {
				t.Fatalf("AddVoter: %v", err)
			}
			want := apply(t, c1, "after join").(int)

			deadline := time.Now().Add(10 * time.Second)
			for {
				st, _, restored := fsm2.state()
				if st.Count == want {
					if restored != 1 {
						t.Errorf("follower restored %d snapshots, want 1", restored)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("follower count %d, want %d; follower %+v", st.Count, want, c2.Stats())
				}
				time.Sleep(10 * time.Millisecond)
			}

			var nle *flowmesh.NotLeaderError
			if _, err := c2.Apply(context.Background(), []byte("x")); !errors.As(err, &nle) || nle.LeaderID != "n1" || nle.LeaderAddr == "" {
				t.Errorf("Apply on follower = %v, want NotLeaderError naming n1", err)
			}
			if _, err := c2.ReadIndex(context.Background()); !errors.Is(err, ErrNotLeader) {
				t.Errorf("ReadIndex on follower = %v", err)
			}
			if s := c1.Stats(); len(s.Servers) != 2 {
				t.Errorf("leader sees servers %+v", s.Servers)
			}
			// Shut the follower down first so the leader's replication
			// goroutines see it leave, then the leader.
			if err := c2.Shutdown(); err != nil {
				t.Error(err)
			}
			if err := c1.Shutdown(); err != nil {
				t.Error(err)
			}
		})
	}
}
