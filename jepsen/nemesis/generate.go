package nemesis

import (
	"math/rand/v2"
	"slices"
	"time"
)

// rng draws bounded values from a PCG stream by this package's own rules,
// so the draws do not depend on math/rand's helper methods.
type rng struct{ src *rand.PCG }

func newRNG(seed int64) *rng {
	return &rng{src: rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)}
}

// intn returns a uniform int in [0, n), n > 0, by rejection.
func (r *rng) intn(n int) int {
	if n <= 1 {
		return 0
	}
	un := uint64(n)
	limit := ^uint64(0) - (^uint64(0) % un) // largest multiple of n
	for {
		if x := r.src.Uint64(); x < limit {
			return int(x % un)
		}
	}
}

// between returns a duration in [lo, hi], rounded to milliseconds.
func (r *rng) between(lo, hi time.Duration) time.Duration {
	ms := int((hi - lo) / time.Millisecond)
	return lo + time.Duration(r.intn(ms+1))*time.Millisecond
}

// perm returns a permutation of 0..n-1 (Fisher-Yates).
func (r *rng) perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := r.intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// Generate plans the faults of cfg. The same Config (seed included) always
// gives the same Schedule.
func Generate(cfg Config) (Schedule, error) {
	if err := cfg.Validate(); err != nil {
		return Schedule{}, err
	}
	s := Schedule{Seed: cfg.Seed, Nodes: cfg.Nodes}
	if len(cfg.Kinds) == 0 {
		return s, nil
	}
	r := newRNG(cfg.Seed)
	var active []Fault // faults overlapping the next start
	t := cfg.Quiet
	for {
		// Wait for a free slot: drop faults that stopped by t, and if all
		// slots are busy, start after the earliest stop plus a gap.
		active = slices.DeleteFunc(active, func(f Fault) bool { return f.Stop <= t })
		if len(active) >= cfg.Concurrency {
			first := active[0].Stop
			for _, f := range active {
				first = min(first, f.Stop)
			}
			t = first + r.between(cfg.Interval/2, cfg.Interval*3/2)
			continue
		}
		length := r.between(cfg.MinFault, cfg.MaxFault)
		if t+length > cfg.Duration {
			break
		}
		k := cfg.Kinds[r.intn(len(cfg.Kinds))]
		if k == Membership && slices.ContainsFunc(active, func(f Fault) bool { return f.Kind == Membership }) {
			t += r.between(cfg.Interval/2, cfg.Interval*3/2)
			continue
		}
		f := plan(r, k, cfg.Nodes)
		f.Start, f.Stop = t, t+length
		s.Faults = append(s.Faults, f)
		active = append(active, f)
		if len(active) >= cfg.Concurrency {
			continue // the top of the loop waits for a slot
		}
		t += r.between(cfg.Interval/2, cfg.Interval*3/2)
	}
	return s, nil
}

// plan draws the targets and parameters of a fault of kind k on n nodes.
func plan(r *rng, k Kind, n int) Fault {
	f := Fault{Kind: k, Target: TargetNodes}
	minority := (n - 1) / 2
	switch k {
	case Kill, Pause:
		// One node, a minority, or the leader.
		switch r.intn(3) {
		case 0:
			f.Nodes = []int{r.intn(n)}
		case 1:
			f.Nodes = sorted(r.perm(n)[:max(1, minority)])
		default:
			f.Target = TargetLeader
		}
	case PartitionOne:
		p := r.perm(n)
		f.Nodes = []int{p[0]}
		f.Groups = [][]int{{p[0]}, sorted(p[1:])}
	case PartitionLeader:
		f.Target = TargetLeader
	case PartitionMajorityMinority:
		p := r.perm(n)
		f.Groups = [][]int{sorted(p[:minority]), sorted(p[minority:])}
		f.Nodes = f.Groups[0]
	case PartitionBridge:
		// A bridge node in both sides, the others split evenly.
		p := r.perm(n)
		bridge, rest := p[0], p[1:]
		half := len(rest) / 2
		f.Nodes = []int{bridge}
		f.Groups = [][]int{sorted(append([]int{bridge}, rest[:half]...)), sorted(append([]int{bridge}, rest[half:]...))}
	case NetemDelay:
		f.Nodes = netemNodes(r, n)
		f.Delay = r.between(20*time.Millisecond, 300*time.Millisecond)
		f.Jitter = f.Delay / 4
	case NetemLoss:
		f.Nodes = netemNodes(r, n)
		f.Loss = float64(5 + r.intn(26)) // 5..30 %
	case Membership:
		f.Nodes = []int{r.intn(n)}
	case Clock:
		f.Nodes = []int{r.intn(n)}
		off := r.between(500*time.Millisecond, 10*time.Second)
		if r.intn(2) == 0 {
			off = -off
		}
		f.ClockOffset = off
	case Disk:
		// One node, or the leader (whose unsynced segment tail is the
		// freshest).
		if i := r.intn(n + 1); i < n {
			f.Nodes = []int{i}
		} else {
			f.Target = TargetLeader
		}
		f.DiskMode = DiskLoseUnsynced
		if r.intn(2) == 1 {
			f.DiskMode = DiskCrashBeforeApply
		}
	}
	return f
}

// netemNodes is one node or all of them.
func netemNodes(r *rng, n int) []int {
	if r.intn(2) == 0 {
		return []int{r.intn(n)}
	}
	return sorted(r.perm(n))
}

func sorted(xs []int) []int {
	out := slices.Clone(xs)
	slices.Sort(out)
	return out
}
