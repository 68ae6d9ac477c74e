// Package fault executes the faults of a nemesis schedule against a
// cluster of real node processes: kill (SIGKILL, restart at Stop), pause
// (SIGSTOP/SIGCONT), partitions (iptables DROP rules inside each node's
// network namespace), netem delay and loss (tc on each node's veth) and
// membership (graceful leave, wipe, rejoin empty), and with a node built
// with the flowmesh_faults tag (Hooks) clock offsets and disk crashes: the
// crash-before-apply failpoint, and the lose-unsynced crash (the node cuts
// its segment files and its raft log's raft-wal segment files back to
// their last fsync and exits). Without the hooks
// clock and disk are ErrUnsupported and the runner refuses the schedule.
package fault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/flowmesh/flowmesh/jepsen/nemesis"
)

// ErrUnsupported is returned for faults this build cannot inject.
var ErrUnsupported = errors.New("fault: not supported by this cluster")

// Processes controls node processes. Implemented by runner.Cluster.
type Processes interface {
	Kill(i int) error
	Start(i int, fresh bool) error
	Pause(i int) error
	Resume(i int) error
	Terminate(i int, timeout time.Duration) error
	Leave(ctx context.Context, i int, timeout time.Duration) error
	Wipe(i int) error
	Running(i int) bool
	Leader(ctx context.Context) int
}

// Hooks reaches the test-only hooks of nodes built with the
// flowmesh_faults tag (internal/faults): a per-node clock offset, the
// crash-before-apply failpoint and the lose-unsynced crash. Implemented by
// runner.Cluster.
type Hooks interface {
	// SetClockOffset sets node i's test clock offset (0 heals).
	SetClockOffset(i int, d time.Duration) error
	// ArmCrashBeforeApply makes node i exit after raft wrote its next
	// committed batch and before the FSM applies it.
	ArmCrashBeforeApply(i int) error
	// ArmLoseUnsynced makes node i cut its segment files and raft-wal
	// segment files (the raft log) back to their last fsync and exit at
	// once, as a machine crash would leave them.
	ArmLoseUnsynced(i int) error
	// LoseUnsyncedReport is what node i said it cut at that crash.
	LoseUnsyncedReport(i int) string
	// AwaitExit waits for node i to exit by itself (SIGKILL after timeout).
	AwaitExit(i int, timeout time.Duration) bool
}

// Network cuts and shapes node traffic. Implemented by netns.Network; nil
// when the nodes share the loopback interface.
type Network interface {
	Partition(ctx context.Context, connected func(i, j int) bool) error
	HealPartition(ctx context.Context) error
	Netem(ctx context.Context, i int, delay, jitter time.Duration, loss float64) (how string, err error)
	HealNetem(ctx context.Context) error
}

// Executor applies faults. It remembers what it did, so Heal can undo
// everything at the end whatever happened in between.
type Executor struct {
	procs Processes
	net   Network // may be nil
	n     int
	// RestartDelay is how long a killed node stays down at least, even if
	// its fault's Stop comes sooner.
	RestartDelay time.Duration

	left map[int]bool // nodes that left (membership) and must rejoin empty

	hooks Hooks // nil: clock and disk faults are unsupported
}

// New returns an executor for n nodes. net may be nil.
func New(procs Processes, net Network, n int) *Executor {
	return &Executor{procs: procs, net: net, n: n, left: map[int]bool{}}
}

// EnableHooks makes clock and disk faults available through h.
func (e *Executor) EnableHooks(h Hooks) { e.hooks = h }

// Supported reports whether k can be injected here.
func (e *Executor) Supported(k nemesis.Kind) error {
	switch k {
	case nemesis.Kill, nemesis.Pause, nemesis.Membership:
		return nil
	case nemesis.PartitionOne, nemesis.PartitionLeader, nemesis.PartitionMajorityMinority, nemesis.PartitionBridge,
		nemesis.NetemDelay, nemesis.NetemLoss:
		if e.net == nil {
			return fmt.Errorf("%w: %s needs network namespaces (run as root without --net loopback)", ErrUnsupported, k)
		}
		return nil
	case nemesis.Clock, nemesis.Disk:
		if e.hooks != nil {
			return nil
		}
	}
	return fmt.Errorf("%w: %s needs a node-side test hook (build the node with --build-tags flowmesh_faults)", ErrUnsupported, k)
}

// Applied is a fault as it was carried out.
type Applied struct {
	Fault  nemesis.Fault
	Nodes  []int  // the nodes actually hit (the leader resolved)
	Detail string // what was done, for the report
	undo   func(ctx context.Context) error
}

// Apply carries out f now. The returned Applied undoes it with Heal.
func (e *Executor) Apply(ctx context.Context, f nemesis.Fault) (*Applied, error) {
	if err := e.Supported(f.Kind); err != nil {
		return nil, err
	}
	a := &Applied{Fault: f, Nodes: slices.Clone(f.Nodes)}
	if f.Target == nemesis.TargetLeader {
		l := e.procs.Leader(ctx)
		if l < 0 {
			return nil, errors.New("fault: no leader to target")
		}
		a.Nodes = []int{l}
	}
	// Each kind carries the fault out, says what it did (a.Detail) and
	// sets how to undo it (a.undo); it returns before setting undo only
	// when it changed nothing.
	var err error
	switch f.Kind {
	case nemesis.Kill:
		err = e.applyKill(a)
	case nemesis.Pause:
		err = e.applyPause(a)
	case nemesis.PartitionOne, nemesis.PartitionMajorityMinority, nemesis.PartitionBridge, nemesis.PartitionLeader:
		err = e.applyPartition(ctx, a)
	case nemesis.NetemDelay, nemesis.NetemLoss:
		err = e.applyNetem(ctx, a)
	case nemesis.Clock:
		err = e.applyClock(a)
	case nemesis.Disk:
		err = e.applyDisk(a)
	case nemesis.Membership:
		err = e.applyMembership(ctx, a)
	}
	if err != nil {
		if a.undo != nil {
			// Half-applied: undo what can be undone now.
			err = errors.Join(err, a.undo(ctx))
		}
		return nil, err
	}
	return a, nil
}

func (e *Executor) applyKill(a *Applied) error {
	var err error
	for _, i := range a.Nodes {
		err = errors.Join(err, e.procs.Kill(i))
	}
	a.Detail = fmt.Sprintf("SIGKILL %v", a.Nodes)
	a.undo = func(ctx context.Context) error {
		var errs []error
		for _, i := range a.Nodes {
			if !e.procs.Running(i) && !e.left[i] {
				errs = append(errs, e.procs.Start(i, true))
			}
		}
		return errors.Join(errs...)
	}
	return err
}

func (e *Executor) applyPause(a *Applied) error {
	var err error
	for _, i := range a.Nodes {
		err = errors.Join(err, e.procs.Pause(i))
	}
	a.Detail = fmt.Sprintf("SIGSTOP %v", a.Nodes)
	a.undo = func(ctx context.Context) error {
		var errs []error
		for _, i := range a.Nodes {
			errs = append(errs, e.procs.Resume(i))
		}
		return errors.Join(errs...)
	}
	return err
}

func (e *Executor) applyPartition(ctx context.Context, a *Applied) error {
	f := a.Fault
	connected := f.Connected
	if f.Kind == nemesis.PartitionLeader {
		l := a.Nodes[0]
		connected = func(i, j int) bool { return (i == l) == (j == l) }
	}
	err := e.net.Partition(ctx, connected)
	a.Detail = "iptables DROP " + describeCuts(e.n, connected)
	a.undo = e.net.HealPartition
	return err
}

func (e *Executor) applyNetem(ctx context.Context, a *Applied) error {
	f := a.Fault
	var err error
	var how string
	for _, i := range a.Nodes {
		h, nerr := e.net.Netem(ctx, i, f.Delay, f.Jitter, f.Loss)
		err, how = errors.Join(err, nerr), h
	}
	a.Detail = fmt.Sprintf("%v delay=%s±%s loss=%g%% by %s", a.Nodes, f.Delay, f.Jitter, f.Loss, how)
	a.undo = e.net.HealNetem
	return err
}

func (e *Executor) applyClock(a *Applied) error {
	f := a.Fault
	var err error
	for _, i := range a.Nodes {
		err = errors.Join(err, e.hooks.SetClockOffset(i, f.ClockOffset))
	}
	a.Detail = fmt.Sprintf("clock offset %s on %v", f.ClockOffset, a.Nodes)
	a.undo = func(ctx context.Context) error {
		var errs []error
		for _, i := range a.Nodes {
			errs = append(errs, e.hooks.SetClockOffset(i, 0))
		}
		return errors.Join(errs...)
	}
	return err
}

// applyDisk crashes the node in either mode (exit 99) and leaves it down
// until Stop; the restart is the kill fault's.
func (e *Executor) applyDisk(a *Applied) error {
	f := a.Fault
	i := a.Nodes[0]
	var arm func(int) error
	switch f.DiskMode {
	case nemesis.DiskCrashBeforeApply:
		arm = e.hooks.ArmCrashBeforeApply
	case nemesis.DiskLoseUnsynced:
		arm = e.hooks.ArmLoseUnsynced
	default:
		return fmt.Errorf("%w: disk mode %q", ErrUnsupported, f.DiskMode)
	}
	a.undo = func(ctx context.Context) error {
		if e.procs.Running(i) || e.left[i] {
			return nil
		}
		return e.procs.Start(i, true)
	}
	running := e.procs.Running(i)
	err := arm(i)
	if err == nil {
		if !e.hooks.AwaitExit(i, 10*time.Second) {
			err = fmt.Errorf("fault: node %d did not crash within 10s of arming %s; killed", i, f.DiskMode)
		}
	}
	a.Detail = fmt.Sprintf("%s on %d", f.DiskMode, i)
	if !running {
		a.Detail += " (already down)"
	} else if f.DiskMode == nemesis.DiskLoseUnsynced && err == nil {
		if r := e.hooks.LoseUnsyncedReport(i); r != "" {
			a.Detail += ": " + r
		}
	}
	return err
}

func (e *Executor) applyMembership(ctx context.Context, a *Applied) error {
	f := a.Fault
	i := a.Nodes[0]
	if !e.procs.Running(i) {
		return fmt.Errorf("fault: membership: node %d is not running", i)
	}
	// Both ways an operator takes a node out, chosen by the schedule
	// (so a seed always picks the same): the Leave RPC (what `flowmesh
	// cluster leave` sends), or SIGTERM with --leave-on-terminate.
	var err error
	how := "SIGTERM --leave-on-terminate"
	if f.Start.Milliseconds()%2 == 0 {
		how = "Leave RPC"
		err = e.procs.Leave(ctx, i, 15*time.Second)
	} else {
		err = e.procs.Terminate(i, 15*time.Second)
	}
	err = errors.Join(err, e.procs.Wipe(i))
	e.left[i] = true
	a.Detail = fmt.Sprintf("leave (%s) and wipe %d", how, i)
	a.undo = func(ctx context.Context) error {
		delete(e.left, i)
		if e.procs.Running(i) {
			return nil
		}
		return e.procs.Start(i, false)
	}
	return err
}

// Heal undoes a.
func (e *Executor) Heal(ctx context.Context, a *Applied) error { return a.undo(ctx) }

// HealAll brings every node back: resumes paused ones, restarts dead ones
// (rejoining empty after a membership fault), removes partitions and netem.
func (e *Executor) HealAll(ctx context.Context) error {
	var errs []error
	if e.net != nil {
		errs = append(errs, e.net.HealPartition(ctx), e.net.HealNetem(ctx))
	}
	for i := 0; i < e.n; i++ {
		errs = append(errs, e.procs.Resume(i))
		if !e.procs.Running(i) {
			errs = append(errs, e.procs.Start(i, !e.left[i]))
			delete(e.left, i)
		}
	}
	return errors.Join(errs...)
}

func describeCuts(n int, connected func(i, j int) bool) string {
	var cuts [][2]int
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			if !connected(i, j) {
				cuts = append(cuts, [2]int{i, j})
			}
		}
	}
	return fmt.Sprint(cuts)
}
