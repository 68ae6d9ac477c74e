package fault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/jepsen/nemesis"
)

// fakeProcs records calls; node 1 leads.
type fakeProcs struct {
	running map[int]bool
	paused  map[int]bool
	calls   []string
	leader  int
}

func newFake(n int) *fakeProcs {
	f := &fakeProcs{running: map[int]bool{}, paused: map[int]bool{}, leader: 1}
	for i := 0; i < n; i++ {
		f.running[i] = true
	}
	return f
}

func (f *fakeProcs) log(s string, i int) { f.calls = append(f.calls, fmt.Sprintf("%s %d", s, i)) }
func (f *fakeProcs) Kill(i int) error    { f.log("kill", i); f.running[i] = false; return nil }
func (f *fakeProcs) Start(i int, fresh bool) error {
	f.log(fmt.Sprintf("start(fresh=%v)", fresh), i)
	f.running[i] = true
	return nil
}
func (f *fakeProcs) Pause(i int) error  { f.log("pause", i); f.paused[i] = true; return nil }
func (f *fakeProcs) Resume(i int) error { f.paused[i] = false; return nil }
func (f *fakeProcs) Terminate(i int, _ time.Duration) error {
	f.log("terminate", i)
	f.running[i] = false
	return nil
}
func (f *fakeProcs) Leave(_ context.Context, i int, _ time.Duration) error {
	f.log("leave", i)
	f.running[i] = false
	return nil
}
func (f *fakeProcs) Wipe(i int) error           { f.log("wipe", i); return nil }
func (f *fakeProcs) Running(i int) bool         { return f.running[i] }
func (f *fakeProcs) Leader(context.Context) int { return f.leader }

type fakeNet struct{ cuts [][2]int }

func (n *fakeNet) Partition(_ context.Context, connected func(i, j int) bool) error {
	n.cuts = nil
	for i := 0; i < 3; i++ {
		for j := i + 1; j < 3; j++ {
			if !connected(i, j) {
				n.cuts = append(n.cuts, [2]int{i, j})
			}
		}
	}
	return nil
}
func (n *fakeNet) HealPartition(context.Context) error { n.cuts = nil; return nil }
func (n *fakeNet) Netem(context.Context, int, time.Duration, time.Duration, float64) (string, error) {
	return "fake", nil
}
func (n *fakeNet) HealNetem(context.Context) error { return nil }

func TestLeaderTargetsResolveAtStart(t *testing.T) {
	ctx := context.Background()
	p, nw := newFake(3), &fakeNet{}
	e := New(p, nw, 3)
	a, err := e.Apply(ctx, nemesis.Fault{Kind: nemesis.Kill, Target: nemesis.TargetLeader})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Nodes, []int{1}) || p.running[1] {
		t.Fatalf("kill leader hit %v, running %v", a.Nodes, p.running)
	}
	if err := e.Heal(ctx, a); err != nil || !p.running[1] {
		t.Fatalf("heal: %v, running %v", err, p.running)
	}
	a, err = e.Apply(ctx, nemesis.Fault{Kind: nemesis.PartitionLeader, Target: nemesis.TargetLeader})
	if err != nil {
		t.Fatal(err)
	}
	if want := [][2]int{{0, 1}, {1, 2}}; !slices.Equal(nw.cuts, want) {
		t.Errorf("partition-leader cuts %v, want %v", nw.cuts, want)
	}
	e.Heal(ctx, a)
	if nw.cuts != nil {
		t.Errorf("cuts after heal: %v", nw.cuts)
	}
}

func TestMembershipRejoinsEmptyEvenThroughHealAll(t *testing.T) {
	ctx := context.Background()
	p := newFake(3)
	e := New(p, nil, 3)
	if _, err := e.Apply(ctx, nemesis.Fault{Kind: nemesis.Membership, Nodes: []int{2}, Start: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := e.HealAll(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"terminate 2", "wipe 2", "start(fresh=false) 2"}
	if !slices.Equal(p.calls, want) {
		t.Errorf("calls %v, want %v", p.calls, want)
	}
}

func TestNetworkFaultsNeedANetwork(t *testing.T) {
	e := New(newFake(3), nil, 3)
	for _, k := range []nemesis.Kind{nemesis.PartitionOne, nemesis.NetemLoss, nemesis.Clock, nemesis.Disk} {
		if err := e.Supported(k); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Supported(%s) = %v, want ErrUnsupported", k, err)
		}
	}
	for _, k := range []nemesis.Kind{nemesis.Kill, nemesis.Pause, nemesis.Membership} {
		if err := e.Supported(k); err != nil {
			t.Errorf("Supported(%s) = %v", k, err)
		}
	}
}

type fakeHooks struct {
	calls []string
	procs *fakeProcs
}

func (h *fakeHooks) SetClockOffset(i int, d time.Duration) error {
	h.calls = append(h.calls, fmt.Sprintf("clock %d %s", i, d))
	return nil
}
func (h *fakeHooks) ArmCrashBeforeApply(i int) error {
	h.calls = append(h.calls, fmt.Sprintf("crash %d", i))
	h.procs.running[i] = false
	return nil
}
func (h *fakeHooks) ArmLoseUnsynced(i int) error {
	h.calls = append(h.calls, fmt.Sprintf("lose-unsynced %d", i))
	h.procs.running[i] = false
	return nil
}
func (h *fakeHooks) LoseUnsyncedReport(i int) string       { return "segment: cut 42 unsynced bytes" }
func (h *fakeHooks) AwaitExit(i int, _ time.Duration) bool { return !h.procs.running[i] }

func TestClockAndDiskGoThroughHooks(t *testing.T) {
	ctx := context.Background()
	p := newFake(3)
	h := &fakeHooks{procs: p}
	e := New(p, nil, 3)
	if err := e.Supported(nemesis.Clock); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("clock without hooks: %v", err)
	}
	e.EnableHooks(h)
	a, err := e.Apply(ctx, nemesis.Fault{Kind: nemesis.Clock, Nodes: []int{2}, ClockOffset: -3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.Heal(ctx, a)
	if _, err := e.Apply(ctx, nemesis.Fault{Kind: nemesis.Disk, Nodes: []int{1}, DiskMode: "scribble"}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown disk mode: %v, want ErrUnsupported", err)
	}
	for _, m := range []nemesis.DiskMode{nemesis.DiskCrashBeforeApply, nemesis.DiskLoseUnsynced} {
		p.calls = nil
		a, err = e.Apply(ctx, nemesis.Fault{Kind: nemesis.Disk, Nodes: []int{1}, DiskMode: m})
		if err != nil {
			t.Fatal(err)
		}
		if m == nemesis.DiskLoseUnsynced && a.Detail != "lose-unsynced on 1: segment: cut 42 unsynced bytes" {
			t.Errorf("detail %q", a.Detail)
		}
		if p.running[1] {
			t.Errorf("%s: node still running", m)
		}
		e.Heal(ctx, a)
		if !p.running[1] || !slices.Equal(p.calls, []string{"start(fresh=true) 1"}) {
			t.Errorf("%s: disk fault not healed by a restart: %v", m, p.calls)
		}
	}
	want := []string{"clock 2 -3s", "clock 2 0s", "crash 1", "lose-unsynced 1"}
	if !slices.Equal(h.calls, want) {
		t.Errorf("hook calls %v, want %v", h.calls, want)
	}
}
