package nemesis

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/flowmesh/flowmesh/jepsen/history"
)

// Kind is a kind of fault.
type Kind string

const (
	// Kill SIGKILLs nodes at Start and restarts them at Stop.
	Kill Kind = "kill"
	// Pause SIGSTOPs nodes at Start and SIGCONTs them at Stop.
	Pause Kind = "pause"
	// PartitionOne isolates one node from all others.
	PartitionOne Kind = "partition-one"
	// PartitionLeader isolates whichever node leads at Start.
	PartitionLeader Kind = "partition-leader"
	// PartitionMajorityMinority splits the nodes into a majority and a
	// minority.
	PartitionMajorityMinority Kind = "partition-majority-minority"
	// PartitionBridge splits the nodes into two sides and one node that
	// sees both.
	PartitionBridge Kind = "partition-bridge"
	// NetemDelay delays Nodes' packets by Delay ± Jitter (tc netem).
	NetemDelay Kind = "netem-delay"
	// NetemLoss drops Loss percent of Nodes' packets (tc netem).
	NetemLoss Kind = "netem-loss"
	// Membership removes a node from the cluster at Start and wipes it;
	// at Stop it rejoins empty. One change at a time.
	Membership Kind = "membership"
	// Clock shifts Nodes' test clock (a build-tagged offset) by
	// ClockOffset from Start to Stop.
	Clock Kind = "clock"
	// Disk crashes a node at Start in the way DiskMode says and restarts
	// it at Stop.
	Disk Kind = "disk"
)

// AllKinds lists every kind, in a fixed order.
var AllKinds = []Kind{Kill, Pause, PartitionOne, PartitionLeader, PartitionMajorityMinority, PartitionBridge, NetemDelay, NetemLoss, Membership, Clock, Disk}

// kindGroups are the short names ParseKinds accepts for several kinds.
var kindGroups = map[string][]Kind{
	"all":       AllKinds,
	"partition": {PartitionOne, PartitionLeader, PartitionMajorityMinority, PartitionBridge},
	"netem":     {NetemDelay, NetemLoss},
}

// ParseKinds parses a comma-separated list of kinds and group names
// ("partition", "netem", "all"), as the runner's --nemesis flag. "" and
// "none" give no kinds.
func ParseKinds(s string) ([]Kind, error) {
	var out []Kind
	var errs []error
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" || f == "none" {
			continue
		}
		ks, ok := kindGroups[f]
		if !ok && slices.Contains(AllKinds, Kind(f)) {
			ks, ok = []Kind{Kind(f)}, true
		}
		if !ok {
			errs = append(errs, fmt.Errorf("nemesis: unknown fault %q", f))
			continue
		}
		for _, k := range ks {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out, errors.Join(errs...)
}

// Target says which nodes a fault hits when that is decided at run time.
type Target string

const (
	// TargetNodes: exactly Fault.Nodes.
	TargetNodes Target = "nodes"
	// TargetLeader: the node that leads when the fault starts; Nodes is empty.
	TargetLeader Target = "leader"
)

// DiskMode is how a Disk fault crashes a node.
type DiskMode string

const (
	// DiskLoseUnsynced crashes the node as a power cut would: through its
	// test-only hook (FLOWMESH_CRASH_LOSE_UNSYNCED_FILE) it cuts its
	// segment files, and the raft log's raft-wal segment files (the
	// default log store; a bbolt raft.db is fsynced by every commit and
	// not cut), back to their last fsync and exits at once.
	DiskLoseUnsynced DiskMode = "lose-unsynced"
	// DiskCrashBeforeApply arms a failpoint that crashes the node between
	// appending to its Raft log and applying.
	DiskCrashBeforeApply DiskMode = "crash-before-apply"
)

// Fault is one planned fault. Nodes are indices 0..N-1 into the runner's
// node list.
type Fault struct {
	Kind   Kind          `json:"kind"`
	Start  time.Duration `json:"start_ns"`
	Stop   time.Duration `json:"stop_ns"`
	Target Target        `json:"target"`
	Nodes  []int         `json:"nodes,omitempty"`
	// Groups, for partitions, are the sides: two nodes can talk iff some
	// group holds both (a bridge node is in both groups). Empty for
	// PartitionLeader, whose sides are the leader and the rest.
	Groups      [][]int       `json:"groups,omitempty"`
	Delay       time.Duration `json:"delay_ns,omitempty"`
	Jitter      time.Duration `json:"jitter_ns,omitempty"`
	Loss        float64       `json:"loss_percent,omitempty"`
	ClockOffset time.Duration `json:"clock_offset_ns,omitempty"`
	DiskMode    DiskMode      `json:"disk_mode,omitempty"`
}

// Connected reports whether nodes i and j can talk during a partition
// fault with Groups; true for every other fault.
func (f Fault) Connected(i, j int) bool {
	if len(f.Groups) == 0 {
		return true
	}
	for _, g := range f.Groups {
		if slices.Contains(g, i) && slices.Contains(g, j) {
			return true
		}
	}
	return false
}

// String describes f in one line.
func (f Fault) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%7.2fs-%7.2fs %s", f.Start.Seconds(), f.Stop.Seconds(), f.Kind)
	if f.Target == TargetLeader {
		b.WriteString(" leader")
	} else if len(f.Groups) > 0 {
		fmt.Fprintf(&b, " groups=%v", f.Groups)
	} else {
		fmt.Fprintf(&b, " nodes=%v", f.Nodes)
	}
	if f.Delay > 0 {
		fmt.Fprintf(&b, " delay=%s±%s", f.Delay, f.Jitter)
	}
	if f.Loss > 0 {
		fmt.Fprintf(&b, " loss=%g%%", f.Loss)
	}
	if f.ClockOffset != 0 {
		fmt.Fprintf(&b, " offset=%s", f.ClockOffset)
	}
	if f.DiskMode != "" {
		fmt.Fprintf(&b, " mode=%s", f.DiskMode)
	}
	return b.String()
}

// Config shapes a schedule.
type Config struct {
	Seed  int64
	Nodes int    // cluster size, >= 1 (partitions need >= 3)
	Kinds []Kind // faults to draw from; empty: no faults
	// Duration is the fault phase: every fault stops by then. The runner
	// heals everything and lets the cluster recover after it.
	Duration time.Duration
	Quiet    time.Duration // no fault starts before this
	// Interval is the mean gap between one fault ending and the next
	// starting; gaps are drawn from [Interval/2, 3*Interval/2].
	Interval time.Duration
	// MinFault and MaxFault bound a fault's length.
	MinFault, MaxFault time.Duration
	// Concurrency is how many faults may be active at once (combined
	// faults, for long runs). Membership changes never overlap each other.
	Concurrency int
}

// DefaultConfig is a CI-sized plan: a 60s fault phase, 5s quiet, a fault
// of 2-6s every ~4s, one at a time.
func DefaultConfig() Config {
	return Config{
		Nodes:       3,
		Kinds:       []Kind{Kill, Pause, PartitionOne, PartitionLeader, PartitionMajorityMinority},
		Duration:    60 * time.Second,
		Quiet:       5 * time.Second,
		Interval:    4 * time.Second,
		MinFault:    2 * time.Second,
		MaxFault:    6 * time.Second,
		Concurrency: 1,
	}
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.Nodes < 1 {
		errs = append(errs, fmt.Errorf("nemesis: nodes is %d, want >= 1", c.Nodes))
	}
	for _, k := range c.Kinds {
		if !slices.Contains(AllKinds, k) {
			errs = append(errs, fmt.Errorf("nemesis: unknown fault %q", k))
		}
		if c.Nodes < 3 && k != Clock && k != NetemDelay && k != NetemLoss && k != Kill && k != Pause && k != Disk {
			errs = append(errs, fmt.Errorf("nemesis: %s needs at least 3 nodes, have %d", k, c.Nodes))
		}
	}
	if c.Duration <= 0 || c.Quiet < 0 || c.Quiet > c.Duration {
		errs = append(errs, fmt.Errorf("nemesis: need 0 <= quiet (%s) <= duration (%s), duration > 0", c.Quiet, c.Duration))
	}
	if c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("nemesis: interval is %s, want > 0", c.Interval))
	}
	if c.MinFault <= 0 || c.MaxFault < c.MinFault {
		errs = append(errs, fmt.Errorf("nemesis: need 0 < min fault (%s) <= max fault (%s)", c.MinFault, c.MaxFault))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("nemesis: concurrency is %d, want >= 1", c.Concurrency))
	}
	return errors.Join(errs...)
}

// Schedule is a test's fault plan.
type Schedule struct {
	Seed   int64   `json:"seed"`
	Nodes  int     `json:"nodes"`
	Faults []Fault `json:"faults"`
}

// Windows returns the faults as history windows, for plots and the
// linearizability visualisation.
func (s Schedule) Windows() []history.Window {
	out := make([]history.Window, len(s.Faults))
	for i, f := range s.Faults {
		desc := f.String()
		desc = desc[strings.Index(desc, string(f.Kind))+len(f.Kind):]
		out[i] = history.Window{Kind: string(f.Kind), Detail: strings.TrimSpace(desc), Start: f.Start, Stop: f.Stop}
	}
	return out
}

// String is the schedule, one fault a line, as the runner prints it.
func (s Schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "nemesis schedule: seed %d, %d nodes, %d faults\n", s.Seed, s.Nodes, len(s.Faults))
	for _, f := range s.Faults {
		b.WriteString("  " + f.String() + "\n")
	}
	return b.String()
}
