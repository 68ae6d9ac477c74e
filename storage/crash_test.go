package storage_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/internal/faults"
	"github.com/flowmesh/flowmesh/storage"
)

// The crash test: a child process writes to a stream, a queue and a KV store
// and prints every acknowledged result; the parent SIGKILLs it at random
// moments (snapshots are frequent, so some kills land during one), restarts
// it on the same data dir, and finally checks that every acknowledged write
// is present exactly once.

const crashChildEnv = "FLOWMESH_CRASH_CHILD"

const (
	crashStream = "crash/ns/events"
	crashQueue  = "crash/ns/jobs"
	crashKV     = "crash/ns/cfg"
)

func crashConfig(dir string, clock func() time.Time) *storage.Config {
	cfg := storage.DefaultConfig()
	cfg.Raft.LogStore = os.Getenv("FLOWMESH_CRASH_LOGSTORE")
	cfg.DataDir = dir
	cfg.NodeID = "crash-node"
	cfg.FlushInterval = 50 * time.Millisecond
	cfg.Raft.SnapshotThreshold = 200
	cfg.Raft.SnapshotInterval = 100 * time.Millisecond
	cfg.SegmentMaxSize = 64 << 10
	cfg.Logger = quietLogger()
	if clock != nil {
		cfg.Clock = clock
	}
	return cfg
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir, os.Getenv("FLOWMESH_CRASH_RUN"))
		return
	}
	os.Exit(m.Run())
}

// crashChild runs until killed.
func crashChild(dir, run string) {
	ctx := context.Background()
	s, err := storage.NewWithConfig(crashConfig(dir, nil))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	if err := s.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	f := storage.NewResourceFactory(s.MetaStore())
	for _, create := range []func() error{
		func() error { _, err := f.CreateStream(ctx, "crash", "ns", "events", 2); return err },
		func() error { _, err := f.CreateQueue(ctx, "crash", "ns", "jobs", 1); return err },
		func() error { _, err := f.CreateKVStore(ctx, "crash", "ns", "cfg"); return err },
	} {
		if err := create(); err != nil && !errors.Is(err, flowmesh.ErrAlreadyExists) {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
	}
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
		out.Unlock()
	}
	fail := func(err error) {
		if faults.Crashing() {
			// A lose-unsynced crash cut the stores under this write; the
			// crash exits with its own code (99) once it is done.
			select {}
		}
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(4)
	}
	say("READY")
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() { // streams
			defer wg.Done()
			for n := 0; ; n++ {
				p := fmt.Sprintf("e-%s-%d-%d", run, w, n)
				pos, err := s.StreamManager().WriteEvents(ctx, crashStream, []flowmesh.StreamEvent{{Payload: []byte(p), Key: p}, {Payload: []byte(p + "b"), Partition: 1}})
				if err != nil {
					fail(err)
				}
				say("E %d %d %s", pos[0].Partition, pos[0].Offset, p)
				say("E %d %d %s", pos[1].Partition, pos[1].Offset, p+"b")
			}
		}()
	}
	wg.Add(1)
	go func() { // queue: enqueue, and ack every other reserved job
		defer wg.Done()
		for n := 0; ; n++ {
			p := fmt.Sprintf("j-%s-%d", run, n)
			id, _, err := s.QueueManager().Enqueue(ctx, crashQueue, []byte(p), flowmesh.QueueEnqueueOptions{})
			if err != nil {
				fail(err)
			}
			say("J %s %s", id, p)
			job, err := s.QueueManager().Reserve(ctx, crashQueue, time.Hour)
			if err != nil {
				fail(err)
			}
			if job != nil && n%2 == 0 {
				say("a %s", job.Receipt.JobID) // ack in flight: after a kill it may or may not have happened
				if err := s.QueueManager().Ack(ctx, crashQueue, job.Receipt); err != nil {
					fail(err)
				}
				say("A %s", job.Receipt.JobID)
			}
		}
	}()
	wg.Add(1)
	go func() { // kv: sequential puts over 20 keys
		defer wg.Done()
		for n := 0; ; n++ {
			k, v := fmt.Sprintf("k%d", n%20), fmt.Sprintf("v-%s-%d", run, n)
			rev, err := s.KVManager().Put(ctx, crashKV, k, []byte(v), flowmesh.KVPutOptions{})
			if err != nil {
				fail(err)
			}
			say("K %s %d %s", k, rev, v)
		}
	}()
	wg.Add(1)
	go func() { // explicit snapshots besides the automatic ones
		defer wg.Done()
		for {
			time.Sleep(70 * time.Millisecond)
			if err := s.Snapshot(ctx); err != nil && !strings.Contains(err.Error(), "nothing new") {
				fmt.Fprintln(os.Stderr, "snapshot:", err)
			}
		}
	}()
	wg.Wait()
}

type crashLog struct {
	events map[string][2]uint64 // payload -> partition, offset
	jobs   map[string]string    // job id -> payload
	acked  map[string]bool      // job ids
	acking map[string]bool      // job ids whose ack was sent, acknowledged or not
	kv     map[string][]string  // key -> acked values in order
	kvRev  map[string]uint64
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns and kills processes")
	}
	for _, store := range []string{"boltdb", "wal"} {
		t.Run(store, func(t *testing.T) {
			t.Setenv("FLOWMESH_CRASH_LOGSTORE", store) // read by the child and by crashConfig
			testCrashRecovery(t)
		})
	}
}

func testCrashRecovery(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	dir := t.TempDir()
	log := &crashLog{events: map[string][2]uint64{}, jobs: map[string]string{}, acked: map[string]bool{},
		acking: map[string]bool{}, kv: map[string][]string{}, kvRev: map[string]uint64{}}
	for run := 0; run < 6; run++ {
		runChild(t, dir, run, time.Duration(300+rng.Intn(1200))*time.Millisecond, log)
	}
	if len(log.events) == 0 || len(log.jobs) == 0 || len(log.kv) == 0 {
		t.Fatalf("the child acknowledged nothing: %d events, %d jobs, %d keys", len(log.events), len(log.jobs), len(log.kv))
	}
	t.Logf("acknowledged: %d events, %d jobs (%d acked), %d keys", len(log.events), len(log.jobs), len(log.acked), len(log.kv))

	reopenAndVerify(t, dir, log)
}

// reopenAndVerify starts a node on the crashed child's dir and checks that
// every write the child saw acknowledged is there, exactly once.
func reopenAndVerify(t *testing.T, dir string, log *crashLog) {
	t.Helper()
	clock := &storage.OffsetClock{}
	s, err := storage.NewWithConfig(crashConfig(dir, clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(ctx)
	verifyStream(t, s, log)
	verifyKV(t, s, log)
	clock.Advance(2 * time.Hour) // every reservation has expired
	verifyQueue(t, s, log)
}

// runChild starts the child on dir, reads its acknowledgements until it is
// killed after d, and records them.
func runChild(t *testing.T, dir string, run int, d time.Duration, log *crashLog) {
	t.Helper()
	runChildUntil(t, dir, run, log, func(cmd *exec.Cmd) {
		time.Sleep(d)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}, func(ws syscall.WaitStatus) bool { return ws.Signal() == syscall.SIGKILL })
}

// runChildUntil runs the child on dir, records its acknowledgements, calls
// stop once it is ready, and requires its end to satisfy ended.
func runChildUntil(t *testing.T, dir string, run int, log *crashLog, stop func(*exec.Cmd), ended func(syscall.WaitStatus) bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, "FLOWMESH_CRASH_RUN="+strconv.Itoa(run))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := bufio.NewReader(stdout)
		once := sync.Once{}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return // a partial last line was never acknowledged in full
			}
			f := strings.Fields(line)
			switch f[0] {
			case "READY":
				once.Do(func() { close(ready) })
			case "E":
				p, _ := strconv.ParseUint(f[1], 10, 64)
				o, _ := strconv.ParseUint(f[2], 10, 64)
				log.events[f[3]] = [2]uint64{p, o}
			case "J":
				log.jobs[f[1]] = f[2]
			case "a":
				log.acking[f[1]] = true
			case "A":
				log.acked[f[1]] = true
			case "K":
				rev, _ := strconv.ParseUint(f[2], 10, 64)
				log.kv[f[1]] = append(log.kv[f[1]], f[3])
				log.kvRev[f[1]] = rev
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("run %d: child not ready: %s", run, stderr.String())
	}
	stop(cmd)
	<-done
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !ended(ee.Sys().(syscall.WaitStatus)) {
		t.Fatalf("run %d: child ended unexpectedly (%v): %s", run, err, stderr.String())
	}
}

func verifyStream(t *testing.T, s *storage.Storage, log *crashLog) {
	t.Helper()
	ctx := context.Background()
	seen := map[string][2]uint64{}
	for p := 0; p < 2; p++ {
		for off := uint64(0); ; {
			msgs, err := s.StreamManager().ReadFromOffset(ctx, crashStream, p, off, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				if prev, dup := seen[string(m.Payload)]; dup {
					t.Errorf("event %q twice: at %v and %d/%d", m.Payload, prev, p, m.Offset)
				}
				seen[string(m.Payload)] = [2]uint64{uint64(p), m.Offset}
				off = m.Offset + 1
			}
		}
	}
	for payload, at := range log.events {
		got, ok := seen[payload]
		if !ok {
			t.Errorf("acknowledged event %q at %v is lost", payload, at)
		} else if got != at {
			t.Errorf("acknowledged event %q was at %v, now at %v", payload, at, got)
		}
	}
}

func verifyKV(t *testing.T, s *storage.Storage, log *crashLog) {
	t.Helper()
	for key, vals := range log.kv {
		e, err := s.KVManager().Get(context.Background(), crashKV, key)
		if err != nil {
			t.Errorf("key %s: %v", key, err)
			continue
		}
		// Puts per key are sequential: the value is the last acknowledged one,
		// or a later put that was in flight at the kill (unacknowledged).
		last := vals[len(vals)-1]
		if string(e.Value) != last && e.Revision <= log.kvRev[key] {
			t.Errorf("key %s = %q at revision %d, want %q (revision %d) or a later write", key, e.Value, e.Revision, last, log.kvRev[key])
		}
		if e.Revision < log.kvRev[key] {
			t.Errorf("key %s went back from revision %d to %d", key, log.kvRev[key], e.Revision)
		}
	}
}

func verifyQueue(t *testing.T, s *storage.Storage, log *crashLog) {
	t.Helper()
	ctx := context.Background()
	got := map[string]string{}
	for {
		job, err := s.QueueManager().Reserve(ctx, crashQueue, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if job == nil {
			break
		}
		if _, dup := got[job.Receipt.JobID]; dup {
			t.Fatalf("job %s reserved twice", job.Receipt.JobID)
		}
		got[job.Receipt.JobID] = string(job.Payload)
	}
	payloads := map[string]string{}
	for id, p := range got {
		if other, dup := payloads[p]; dup {
			t.Errorf("payload %q enqueued twice: jobs %s and %s", p, other, id)
		}
		payloads[p] = id
	}
	for id, p := range log.jobs {
		if log.acked[id] {
			if _, ok := got[id]; ok {
				t.Errorf("job %s (%q) was acknowledged but is back", id, p)
			}
			continue
		}
		if log.acking[id] {
			continue // the ack was in flight at a kill
		}
		if got[id] != p {
			t.Errorf("acknowledged enqueue %s (%q) is lost (got %q)", id, p, got[id])
		}
	}
}
