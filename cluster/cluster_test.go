package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/flowmesh/flowmesh"
)

func TestMain(m *testing.M) {
	// Raft's transport leaves its connection handlers behind after Close
	// until the peer hangs up (multi-node tests).
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/hashicorp/raft.(*NetworkTransport).handleConn"))
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func testConfig(t testing.TB, dataDir string) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ID = "n1"
	cfg.DataDir = dataDir
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Bootstrap = true
	// Short enough for quick elections, long enough that a leader on a
	// loaded 2-core machine (CI runs packages in parallel) does not step
	// down between two calls of a test: at 100/50 ms, TestTLSTransport's
	// two-node cluster lost its leader right after AddVoter under load.
	cfg.HeartbeatTimeout = 200 * time.Millisecond
	cfg.ElectionTimeout = 200 * time.Millisecond
	cfg.LeaderLeaseTimeout = 200 * time.Millisecond
	cfg.Logger = testLogger(t)
	return cfg
}

// startNode starts a node and waits until it leads.
func startNode(t testing.TB, cfg Config, fsm FSM) *Cluster {
	t.Helper()
	c, err := New(cfg, fsm)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Shutdown() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !c.IsLeader() {
		select {
		case <-ctx.Done():
			t.Fatalf("node did not become leader: %+v", c.Stats())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return c
}

func apply(t testing.TB, c *Cluster, cmd string) any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := c.Apply(ctx, []byte(cmd))
	if err != nil {
		t.Fatalf("Apply(%q): %v", cmd, err)
	}
	return v
}

func TestSingleNodeApply(t *testing.T) {
	fsm := newCounterFSM(t.TempDir(), false)
	c := startNode(t, testConfig(t, t.TempDir()), fsm)

	if got := apply(t, c, "x"); got != 1 {
		t.Fatalf("first Apply = %v, want 1", got)
	}
	if _, err := c.Apply(context.Background(), []byte("fail")); !errors.Is(err, errFail) {
		t.Fatalf("Apply(fail) error = %v, want errFail", err)
	}
	if id, addr := c.Leader(); id != "n1" || addr == "" {
		t.Fatalf("Leader() = %q, %q", id, addr)
	}

	_, entriesBefore, _ := fsm.state()
	const n = 200
	results := make([]any, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = c.Apply(context.Background(), []byte(fmt.Sprintf("c%d", i)))
		})
	}
	wg.Wait()
	seen := map[int]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Apply %d: %v", i, errs[i])
		}
		v, ok := results[i].(int)
		if !ok || v < 2 || v > n+1 || seen[v] {
			t.Fatalf("Apply %d = %v: want a unique count in [2, %d]", i, results[i], n+1)
		}
		seen[v] = true
	}
	st, entries, _ := fsm.state()
	if st.Count != n+1 {
		t.Fatalf("count = %d, want %d", st.Count, n+1)
	}
	if got := entries - entriesBefore; got > n/4 {
		t.Errorf("%d commands took %d log entries; want group commit to coalesce them", n, got)
	} else {
		t.Logf("%d commands in %d log entries", n, got)
	}

	s := c.Stats()
	if s.State != "leader" || s.ID != "n1" || s.LeaderID != "n1" || len(s.Servers) != 1 || s.AppliedIndex < s.CommitIndex-1 {
		t.Errorf("Stats() = %+v", s)
	}
}

func TestApplyErrors(t *testing.T) {
	c := startNode(t, testConfig(t, t.TempDir()), newCounterFSM(t.TempDir(), false))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Apply(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply with canceled ctx = %v", err)
	}
	big := make([]byte, c.cfg.BatchMaxBytes)
	if _, err := c.Apply(context.Background(), big); !errors.Is(err, flowmesh.ErrLimitExceeded) {
		t.Errorf("Apply(too big) = %v, want ErrLimitExceeded", err)
	}
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := c.Shutdown(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if _, err := c.Apply(context.Background(), []byte("x")); err == nil {
		t.Error("Apply after Shutdown succeeded")
	}
	if _, err := c.ReadIndex(context.Background()); err == nil {
		t.Error("ReadIndex after Shutdown succeeded")
	}
}

func TestNotLeader(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Bootstrap = false // no configuration: never elects itself
	c, err := New(cfg, newCounterFSM(t.TempDir(), false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	var nle *flowmesh.NotLeaderError
	if _, err := c.Apply(context.Background(), []byte("x")); !errors.As(err, &nle) || !errors.Is(err, flowmesh.ErrNoLeader) {
		t.Errorf("Apply on a non-leader = %v, want NotLeaderError with no leader", err)
	}
	if _, err := c.ReadIndex(context.Background()); !errors.Is(err, ErrNotLeader) {
		t.Errorf("ReadIndex on a non-leader = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.WaitLeader(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitLeader = %v", err)
	}
}

// backwardsClock starts at start and goes back by step on every call.
type backwardsClock struct {
	now  atomic.Int64
	step int64
}

func (b *backwardsClock) Now() time.Time { return time.Unix(0, b.now.Add(-b.step)) }

func TestStampsNeverGoBackwards(t *testing.T) {
	dataDir, fsmDir := t.TempDir(), t.TempDir()
	cfg := testConfig(t, dataDir)
	clk := &backwardsClock{step: int64(time.Second)}
	clk.now.Store(time.Now().UnixNano())
	cfg.Clock = clk.Now

	fsm := newCounterFSM(fsmDir, false)
	c := startNode(t, cfg, fsm)
	for i := range 20 {
		apply(t, c, fmt.Sprint(i))
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() { apply(t, c, fmt.Sprint(i)) })
	}
	wg.Wait()
	st, _, _ := fsm.state()
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}

	// A restarted leader with a clock far in the past still stamps after
	// everything in the log.
	clk.now.Store(st.LastStamp - int64(time.Hour))
	fsm2 := newCounterFSM(fsmDir, false)
	c2 := startNode(t, cfg, fsm2)
	apply(t, c2, "after restart")
	st2, _, _ := fsm2.state()
	if st2.LastStamp <= st.LastStamp {
		t.Errorf("stamp after restart %d <= last stamp before %d", st2.LastStamp, st.LastStamp)
	}
	for _, f := range []*counterFSM{fsm, fsm2} {
		f.mu.Lock()
		if len(f.stampErrs) > 0 {
			t.Errorf("stamps went backwards: %v", f.stampErrs)
		}
		f.mu.Unlock()
	}
}

func TestSnapshotAndRestart(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			dataDir, fsmDir := t.TempDir(), t.TempDir()
			cfg := testConfig(t, dataDir)
			cfg.TrailingLogs = 5
			fsm := newCounterFSM(fsmDir, stream)
			c := startNode(t, cfg, fsm)
			for i := range 30 {
				apply(t, c, fmt.Sprint(i))
			}
			if err := c.Snapshot(); err != nil {
				t.Fatalf("Snapshot: %v", err)
			}
			snapIndex := c.Stats().LastSnapshotIndex
			if snapIndex == 0 {
				t.Fatalf("no snapshot index after Snapshot: %+v", c.Stats())
			}
			if first, _ := c.bolt.FirstIndex(); first <= 1 {
				t.Errorf("log not compacted: first index %d", first)
			}
			for i := range 7 {
				apply(t, c, fmt.Sprint("tail", i))
			}
			want, _, _ := fsm.state()
			if err := c.Shutdown(); err != nil {
				t.Fatal(err)
			}

			fsm2 := newCounterFSM(fsmDir, stream)
			c2 := startNode(t, cfg, fsm2)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			idx, err := c2.ReadIndex(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got, _, restored := fsm2.state()
			if restored != 1 {
				t.Errorf("Restore called %d times, want 1", restored)
			}
			if got.Count != want.Count {
				t.Errorf("count after restart = %d, want %d (snapshot at %d, read index %d)", got.Count, want.Count, snapIndex, idx)
			}
			if v := apply(t, c2, "next"); v != want.Count+1 {
				t.Errorf("Apply after restart = %v, want %d", v, want.Count+1)
			}
		})
	}
}

// TestNoRestoreWhenDurable restarts with an FSM whose own files already
// cover the snapshot: raft must not restore it, and the replayed log tail
// must be skipped.
func TestNoRestoreWhenDurable(t *testing.T) {
	dataDir, fsmDir := t.TempDir(), t.TempDir()
	cfg := testConfig(t, dataDir)
	fsm := newCounterFSM(fsmDir, false)
	c := startNode(t, cfg, fsm)
	for i := range 10 {
		apply(t, c, fmt.Sprint(i))
	}
	if err := c.Snapshot(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		apply(t, c, fmt.Sprint("tail", i))
	}
	want, _, _ := fsm.state()
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}

	fsm2 := newCounterFSM(fsmDir, false)
	fsm2.st, fsm2.durable = want, true
	c2 := startNode(t, cfg, fsm2)
	if _, err := c2.ReadIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _, restored := fsm2.state()
	if restored != 0 {
		t.Errorf("Restore called %d times with a durable FSM", restored)
	}
	if got.Count != want.Count {
		t.Errorf("count = %d, want %d", got.Count, want.Count)
	}
}

func TestReadIndex(t *testing.T) {
	fsm := newCounterFSM(t.TempDir(), false)
	c := startNode(t, testConfig(t, t.TempDir()), fsm)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			for j := range 10 {
				if _, err := c.Apply(ctx, []byte(fmt.Sprint(i, j))); err != nil {
					t.Error(err)
					return
				}
				written := fsm.AppliedIndex()
				idx, err := c.ReadIndex(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if idx < written {
					t.Errorf("ReadIndex = %d < index %d of an acknowledged write", idx, written)
				}
				if applied := c.Stats().AppliedIndex; applied < idx {
					t.Errorf("FSM applied %d < read index %d after ReadIndex", applied, idx)
				}
			}
		})
	}
	wg.Wait()
}

func TestLeaderCh(t *testing.T) {
	c := startNode(t, testConfig(t, t.TempDir()), newCounterFSM(t.TempDir(), false))
	select {
	case v := <-c.LeaderCh():
		if !v {
			t.Fatal("LeaderCh says not leader on the leader")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LeaderCh empty")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err == nil {
		t.Fatal("empty config validated")
	}
	cfg := DefaultConfig()
	cfg.ID, cfg.DataDir, cfg.BindAddr = "a", "d", "127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	cfg.LeaderLeaseTimeout = time.Hour
	cfg.BatchMaxBytes = 1 << 20
	err := cfg.Validate()
	if err == nil {
		t.Fatal("bad config validated")
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 2 {
		t.Errorf("Validate = %v, want both problems", err)
	}

	cfg = DefaultConfig()
	cfg.ID, cfg.DataDir, cfg.BindAddr = "a", "d", "127.0.0.1:0"
	cfg.MaxAppendEntries = 1024 // 513 MiB AppendEntries, over the 128 MiB inflight budget
	cfg.RaftLimits.MaxConnections = -1
	err = cfg.Validate()
	for _, want := range []string{"MaxInflightBytes", "MaxConnections -1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want a problem with %s", err, want)
		}
	}
}

var _ io.Closer = (*snapshotReader)(nil)

// TestShutdownUnderLoad shuts down while many callers are applying: every
// caller returns (a result, ErrShutdown or a NotLeaderError), nothing hangs.
func TestShutdownUnderLoad(t *testing.T) {
	c := startNode(t, testConfig(t, t.TempDir()), newCounterFSM(t.TempDir(), false))
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	for i := range 32 {
		wg.Go(func() {
			for j := 0; ; j++ {
				_, err := c.Apply(context.Background(), []byte(fmt.Sprint(i, j)))
				if err != nil {
					if !errors.Is(err, ErrShutdown) && !errors.Is(err, ErrNotLeader) {
						t.Errorf("Apply during shutdown: %v", err)
					}
					failed.Add(1)
					return
				}
				ok.Add(1)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- c.Shutdown() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown hung under load")
	}
	wg.Wait()
	if ok.Load() == 0 || failed.Load() != 32 {
		t.Errorf("%d applies succeeded, %d callers stopped", ok.Load(), failed.Load())
	}
}

// TestNewFailsCleanly opens a data dir that another node holds: New must
// fail (raft.db is locked) and leave no goroutines or open listeners behind.
func TestNewFailsCleanly(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	startNode(t, cfg, newCounterFSM(t.TempDir(), false))
	if _, err := New(cfg, newCounterFSM(t.TempDir(), false)); err == nil {
		t.Fatal("second New on the same data dir succeeded")
	}
	bad := cfg
	bad.DataDir = t.TempDir()
	bad.BindAddr = "not-an-address"
	if _, err := New(bad, newCounterFSM(t.TempDir(), false)); err == nil {
		t.Fatal("New with a bad bind address succeeded")
	}
	if _, err := New(Config{}, newCounterFSM(t.TempDir(), false)); err == nil {
		t.Fatal("New with an empty config succeeded")
	}
}

func TestBatchLinger(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.BatchLinger = 200 * time.Millisecond
	cfg.BatchMaxCommands = 8
	fsm := newCounterFSM(t.TempDir(), false)
	c := startNode(t, cfg, fsm)
	apply(t, c, "warm up")
	_, before, _ := fsm.state()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * time.Millisecond)
			apply(t, c, fmt.Sprint(i))
		})
	}
	wg.Wait()
	// 16 commands arriving within the linger fill two entries of 8.
	if _, after, _ := fsm.state(); after-before > 3 {
		t.Errorf("16 commands with a 200ms linger and 8 per entry took %d entries", after-before)
	}
}

// TestWaitLeaderWaitsForReplay restarts a node without a snapshot: by the
// time WaitLeader returns, the FSM has replayed the whole log.
func TestWaitLeaderWaitsForReplay(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	fsm := newCounterFSM(t.TempDir(), false)
	c := startNode(t, cfg, fsm)
	for i := range 50 {
		apply(t, c, fmt.Sprint(i))
	}
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	fsm2 := newCounterFSM(t.TempDir(), false)
	c2, err := New(cfg, fsm2)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c2.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := fsm2.state(); st.Count != 50 {
		t.Errorf("after WaitLeader the FSM holds %d commands, want 50", st.Count)
	}
}
