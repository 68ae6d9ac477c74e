package cluster

import (
	"fmt"
	"testing"
	"time"
)

func TestBootstrapPlan(t *testing.T) {
	alive := func(id string, expect int) Member {
		return Member{ID: id, RaftAddr: id + ":1", Status: StatusAlive, Expect: expect}
	}
	withState := alive("c", 3)
	withState.HasState = true
	dead := alive("c", 3)
	dead.Status = StatusDead
	for _, tc := range []struct {
		name    string
		members []Member
		want    string // servers, "" = none
	}{
		{"all three", []Member{alive("c", 3), alive("a", 3), alive("b", 3)}, "[{a a:1 true} {b b:1 true} {c c:1 true}]"},
		{"two of three", []Member{alive("a", 3), alive("b", 3)}, ""},
		{"one has state", []Member{alive("a", 3), alive("b", 3), withState}, ""},
		{"expect differs", []Member{alive("a", 3), alive("b", 3), alive("c", 5)}, ""},
		{"dead not counted", []Member{alive("a", 3), alive("b", 3), dead}, ""},
		{"more than expected", []Member{alive("a", 3), alive("b", 3), alive("c", 3), alive("d", 3)}, ""},
	} {
		servers, why := bootstrapPlan(3, tc.members)
		got := ""
		if servers != nil {
			got = fmt.Sprint(servers)
		}
		if got != tc.want {
			t.Errorf("%s: bootstrapPlan = %s (%s), want %q", tc.name, got, why, tc.want)
		}
		if servers == nil && why == "" {
			t.Errorf("%s: no reason given", tc.name)
		}
	}
}

func TestPlanReconcile(t *testing.T) {
	now := time.Unix(1000, 0)
	cfg := ManageConfig{PromoteLag: 10, PromoteStable: 2 * time.Second}
	voter := func(id string) Server { return Server{ID: id, Address: id + ":1", Voter: true} }
	member := func(id, status string, applied uint64) Member {
		return Member{ID: id, RaftAddr: id + ":1", Status: status, AppliedIndex: applied}
	}
	for _, tc := range []struct {
		name     string
		servers  []Server
		members  []Member
		cleanup  bool
		caughtUp map[string]time.Time
		tomb     map[string]time.Time
		want     string
	}{
		{"new member", []Server{voter("a")}, []Member{member("a", StatusAlive, 0), member("b", StatusAlive, 0)}, false, nil, nil,
			"[add-nonvoter b b:1]"},
		{"removed by operator", []Server{voter("a")}, []Member{member("b", StatusAlive, 0)}, false, nil, map[string]time.Time{"b": now.Add(-time.Second)},
			"[]"},
		{"left", []Server{voter("a"), voter("b")}, []Member{member("b", StatusLeft, 0)}, false, nil, nil,
			"[remove b ]"},
		{"dead kept", []Server{voter("a"), voter("b"), voter("c")}, []Member{member("c", StatusDead, 0)}, false, nil, nil,
			"[]"},
		{"dead cleaned", []Server{voter("a"), voter("b"), voter("c")}, []Member{member("c", StatusDead, 0)}, true, nil, nil,
			"[remove c ]"},
		{"one dead voter per pass", []Server{voter("a"), voter("b"), voter("c"), voter("d"), voter("e")},
			[]Member{member("d", StatusDead, 0), member("e", StatusDead, 0)}, true, nil, nil, "[remove d ]"},
		{"never below quorum", []Server{voter("a"), voter("b")}, []Member{member("b", StatusDead, 0)}, true, nil, nil,
			"[]"},
		{"new address", []Server{voter("a"), voter("b")}, []Member{{ID: "b", RaftAddr: "b:2", Status: StatusAlive}}, false, nil, nil,
			"[readdress b b:2]"},
		{"non-voter lagging", []Server{voter("a"), {ID: "b", Address: "b:1"}}, []Member{member("b", StatusAlive, 50)}, false, nil, nil,
			"[]"},
		{"non-voter caught up, not yet stable", []Server{voter("a"), {ID: "b", Address: "b:1"}}, []Member{member("b", StatusAlive, 95)}, false, nil, nil,
			"[]"},
		{"non-voter caught up and stable", []Server{voter("a"), {ID: "b", Address: "b:1"}}, []Member{member("b", StatusAlive, 95)}, false,
			map[string]time.Time{"b": now.Add(-3 * time.Second)}, nil, "[promote b b:1]"},
		{"non-voter ahead of the leader's commit (another history) never promoted", []Server{voter("a"), {ID: "b", Address: "b:1"}},
			[]Member{member("b", StatusAlive, 11240)}, false, map[string]time.Time{"b": now.Add(-3 * time.Second)}, nil, "[]"},
		{"self ignored", []Server{voter("b")}, []Member{member("a", StatusAlive, 0)}, false, nil, nil, "[]"},
		{"member of another cluster never added", []Server{voter("a")},
			[]Member{{ID: "b", RaftAddr: "b:1", Status: StatusAlive, ClusterID: theirCluster}}, false, nil, nil, "[]"},
		{"member of this cluster added", []Server{voter("a")},
			[]Member{{ID: "b", RaftAddr: "b:1", Status: StatusAlive, ClusterID: ourCluster}}, false, nil, nil, "[add-nonvoter b b:1]"},
	} {
		c := cfg
		c.DeadServerCleanup = tc.cleanup
		if tc.caughtUp == nil {
			tc.caughtUp = map[string]time.Time{}
		}
		acts := planReconcile(reconcileInput{
			self: "a", clusterID: ourCluster, servers: tc.servers, members: tc.members, commit: 100, now: now, cfg: c,
			caughtUp: tc.caughtUp, tombstones: tc.tomb,
		})
		var got []string
		for _, a := range acts {
			got = append(got, a.kind+" "+a.id+" "+a.addr)
		}
		if s := fmt.Sprintf("%v", got); s != tc.want && !(len(got) == 0 && tc.want == "[]") {
			t.Errorf("%s: planReconcile = %s, want %s", tc.name, s, tc.want)
		}
	}
}

// A bootstrap plan goes ahead only once it has stayed the same for the
// settle time; a changed or vanished plan starts the wait again.
func TestBootstrapSettle(t *testing.T) {
	a := []Server{{ID: "a", Address: "x:1", Voter: true}, {ID: "b", Address: "x:2", Voter: true}}
	b := []Server{{ID: "a", Address: "x:1", Voter: true}, {ID: "c", Address: "x:3", Voter: true}}
	t0 := time.Unix(1000, 0)
	s := bootstrapSettle{wait: time.Second}
	for _, step := range []struct {
		plan  []Server
		at    time.Duration
		reset bool
		want  bool
	}{
		{a, 0, false, false},
		{a, 500 * time.Millisecond, false, false},
		{b, 900 * time.Millisecond, false, false}, // changed: wait again
		{b, 1800 * time.Millisecond, false, false},
		{b, 1900 * time.Millisecond, false, true},
		{nil, 2000 * time.Millisecond, true, false}, // plan gone
		{b, 2100 * time.Millisecond, false, false},
		{b, 3100 * time.Millisecond, false, true},
	} {
		if step.reset {
			s.reset()
			continue
		}
		if got := s.ready(step.plan, t0.Add(step.at)); got != step.want {
			t.Errorf("at %v with plan %v: ready = %v, want %v", step.at, step.plan, got, step.want)
		}
	}
}
