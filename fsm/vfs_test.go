package fsm

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
	"github.com/flowmesh/flowmesh/internal/vfs"
	"github.com/flowmesh/flowmesh/segment"
)

// openHarnessFS is openHarness on fsys, with a FileCache of its own; the
// harness continues the entry stamps from the FSM's applied index.
func openHarnessFS(t *testing.T, fsys vfs.FS, dir string) (*harness, error) {
	t.Helper()
	h := &harness{t: t}
	cfg := DefaultConfig(dir)
	cfg.FS = fsys
	cfg.Segment.Files = segment.NewFileCache(64)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.OnFatal = func(err error) { h.fatal = append(h.fatal, err) }
	f, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	h.f = f
	h.index = f.AppliedIndex()
	h.stamp = 1_000_000_000 + 1000*int64(h.index)
	t.Cleanup(func() { f.Close() })
	return h, nil
}

func mustOpenHarnessFS(t *testing.T, fsys vfs.FS, dir string) *harness {
	t.Helper()
	h, err := openHarnessFS(t, fsys, dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return h
}

// workload is entries (one slice of commands each) that touch every kind
// of store, create and delete resources, and put several logs in one entry.
func workload(n int) [][]*fsmpb.Command {
	out := [][]*fsmpb.Command{{createCmd(flowmesh.KindStream, "s"), createCmd(flowmesh.KindQueue, "q"), createCmd(flowmesh.KindKV, "kv")}}
	for i := range n {
		p := []byte(fmt.Sprintf("payload-%d", i))
		e := []*fsmpb.Command{
			{Op: &fsmpb.Command_KvPut{KvPut: &fsmpb.KVPut{Path: "t/ns/kv", Key: fmt.Sprintf("k%d", i%7), Value: p}}},
			{Op: &fsmpb.Command_WriteEvents{WriteEvents: &fsmpb.WriteEvents{Path: "t/ns/s", Events: []*fsmpb.Event{{Payload: p, Key: string(p)}}}}},
			{Op: &fsmpb.Command_Enqueue{Enqueue: &fsmpb.Enqueue{Path: "t/ns/q", Payload: p}}},
			{Op: &fsmpb.Command_Reserve{Reserve: &fsmpb.Reserve{Path: "t/ns/q"}}},
			{Op: &fsmpb.Command_CommitOffset{CommitOffset: &fsmpb.CommitOffset{Path: "t/ns/s", Group: "g", Partition: 1, Offset: uint64(i)}}},
		}
		switch i % 10 {
		case 3:
			e = append(e, createCmd(flowmesh.KindKV, fmt.Sprintf("kv%d", i)))
		case 7:
			e = append(e, &fsmpb.Command{Op: &fsmpb.Command_DeleteResource{DeleteResource: &fsmpb.DeleteResource{Path: fmt.Sprintf("t/ns/kv%d", i-4)}}})
		}
		out = append(out, e)
	}
	return out
}

// applyUpTo applies the workload's entries until the harness's index is
// last (entry i of the workload is raft index i+1).
func applyUpTo(h *harness, w [][]*fsmpb.Command, last uint64) {
	h.t.Helper()
	for h.index < last {
		h.mustApply(w[h.index]...)
	}
}

// referenceHashes applies w on a fresh FSM and returns the state hash after
// each index (hashes[i] is after index i).
func referenceHashes(t *testing.T, w [][]*fsmpb.Command) []string {
	t.Helper()
	h := mustOpenHarnessFS(t, vfs.NewMem(), "/ref")
	out := []string{stateHash(t, h.f)}
	for range w {
		applyUpTo(h, w, h.index+1)
		out = append(out, stateHash(t, h.f))
	}
	return out
}

// An I/O error while applying an entry takes the documented fatal path:
// OnFatal once, the entry does not count as applied, later entries are
// refused, and no checkpoint is written from the diverged memory. The node
// restarting on the same disk recovers to its last checkpoint and raft's
// replay brings it to the same state as a replica that never failed: no
// half of the failed entry survives (in "stream write" its KV record was
// written before the stream's write failed).
func TestInjectedIOErrorInApplyIsFatal(t *testing.T) {
	w := workload(20)
	want := referenceHashes(t, w)
	for _, tc := range []struct {
		name   string
		target uint64 // the entry that fails
		rule   vfs.Rule
	}{
		// The stream's partition logs live in r/1/p<N>; the KV store's in r/3/log.
		{"stream write", 13, vfs.Rule{Op: vfs.OpWrite, Match: func(p string) bool {
			return strings.Contains(p, "/r/1/p") && strings.HasSuffix(p, ".log")
		}}},
		// Entry 15 creates a KV store, entry 19 deletes it.
		{"create resource dir", 15, vfs.Rule{Op: vfs.OpCreate, Match: func(p string) bool { return strings.Contains(p, "/r/") }}},
		{"sync resources dir", 15, vfs.Rule{Op: vfs.OpSync, Match: func(p string) bool { return strings.HasSuffix(p, "/fsm/r") }}},
		{"rename into trash", 19, vfs.Rule{Op: vfs.OpRename, Match: func(p string) bool { return strings.Contains(p, "/trash/") }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			inj := vfs.Inject(mem)
			h := mustOpenHarnessFS(t, inj, "/fsm")
			applyUpTo(h, w, 8)
			if err := h.f.Flush(); err != nil {
				t.Fatal(err)
			}
			applyUpTo(h, w, tc.target-1)
			before := h.f.AppliedIndex()

			fired := inj.Fail(tc.rule)
			h.apply(w[h.index]...)
			if fired() != 1 {
				t.Fatalf("injected error fired %d times, want 1", fired())
			}
			if len(h.fatal) != 1 {
				t.Fatalf("OnFatal called %d times, want 1", len(h.fatal))
			}
			if ie, ok := errors.AsType[*vfs.InjectedError](h.fatal[0]); !ok || ie.Op != tc.rule.Op {
				t.Fatalf("OnFatal got %v, want the injected %s error", h.fatal[0], tc.rule.Op)
			}
			if got := h.f.AppliedIndex(); got != before {
				t.Fatalf("AppliedIndex after the failed entry = %d, want %d", got, before)
			}
			// The FSM must not go on: the next entry is refused, not
			// applied on top of memory the stores do not hold.
			inj.Reset()
			res := h.f.Apply(h.entry(w[h.index]...))
			if err, ok := res.(error); !ok {
				t.Fatalf("entry after a fatal error returned %v, want an error", res)
			} else if !errors.Is(err, errFailed) {
				t.Fatalf("entry after a fatal error: %v, want errFailed", err)
			}
			if got := h.f.AppliedIndex(); got != before {
				t.Fatalf("AppliedIndex moved to %d after a fatal error", got)
			}
			if err := h.f.Flush(); !errors.Is(err, errFailed) {
				t.Fatalf("Flush after a fatal error = %v, want errFailed (no checkpoint of diverged memory)", err)
			}
			if _, err := h.f.Snapshot(); !errors.Is(err, errFailed) {
				t.Fatalf("Snapshot after a fatal error = %v, want errFailed", err)
			}
			if err := h.f.Close(); !errors.Is(err, errFailed) {
				t.Fatalf("Close after a fatal error = %v, want errFailed", err)
			}

			// Restart on the same disk: recover to the checkpoint, replay.
			h2 := mustOpenHarnessFS(t, mem, "/fsm")
			if got := h2.f.AppliedIndex(); got != 8 {
				t.Fatalf("AppliedIndex after restart = %d, want the checkpoint's 8", got)
			}
			if got := stateHash(t, h2.f); got != want[8] {
				t.Fatalf("state after restart differs from a replica's at index 8")
			}
			applyUpTo(h2, w, uint64(len(w)))
			if got := stateHash(t, h2.f); got != want[len(w)] {
				t.Fatalf("state after replay differs from a replica that never failed")
			}
			if len(h2.fatal) != 0 {
				t.Fatalf("fatal errors after restart: %v", h2.fatal)
			}
		})
	}
}

// A failed fsync in Flush is an error of the flush; the FSM writes no
// checkpoint past what is durable.
func TestInjectedSyncErrorFailsFlush(t *testing.T) {
	w := workload(10)
	want := referenceHashes(t, w)
	mem := vfs.NewMem()
	inj := vfs.Inject(mem)
	h := mustOpenHarnessFS(t, inj, "/fsm")
	applyUpTo(h, w, 5)
	if err := h.f.Flush(); err != nil {
		t.Fatal(err)
	}
	applyUpTo(h, w, 9)
	inj.Fail(vfs.Rule{Op: vfs.OpSync, Match: func(p string) bool { return strings.HasSuffix(p, ".log") }})
	var ie *vfs.InjectedError
	if err := h.f.Flush(); !errors.As(err, &ie) {
		t.Fatalf("Flush with a failing fsync = %v, want the injected error", err)
	}
	if got := h.f.DurableIndex(); got != 5 {
		t.Fatalf("DurableIndex after a failed Flush = %d, want 5", got)
	}
	img := mem.CrashClone()
	h2 := mustOpenHarnessFS(t, img, "/fsm")
	if got := h2.f.AppliedIndex(); got != 5 {
		t.Fatalf("AppliedIndex after crash = %d, want 5", got)
	}
	applyUpTo(h2, w, uint64(len(w)))
	if got := stateHash(t, h2.f); got != want[len(w)] {
		t.Fatalf("state after replay differs from a replica that never failed")
	}
}

// Crash images taken at many points recover to their checkpoint D: the
// stores hold exactly the effects of the entries <= D (the state equals a
// replica's at D), and raft's replay of D+1.. reaches the same state as a
// replica that never crashed. Entries after D are unsynced (appended,
// resources created and deleted, logs rolled by a Snapshot); some crash
// points fall inside a Flush, between its log fsyncs and its checkpoint.
func TestCrashCloneRecoversToCheckpoint(t *testing.T) {
	w := workload(30)
	want := referenceHashes(t, w)
	type point struct {
		applied, durable uint64
		img              *vfs.MemFS
	}
	mem := vfs.NewMem()
	inj := vfs.Inject(mem)
	h := mustOpenHarnessFS(t, inj, "/fsm")
	var points []point
	for h.index < uint64(len(w)) {
		applyUpTo(h, w, h.index+1)
		i := h.index
		switch {
		case i%9 == 0:
			if _, err := h.f.Snapshot(); err != nil {
				t.Fatalf("Snapshot at %d: %v", i, err)
			}
		case i%5 == 0:
			if err := h.f.Flush(); err != nil {
				t.Fatalf("Flush at %d: %v", i, err)
			}
		case i%7 == 0:
			// Crash inside a Flush: the logs are synced, the checkpoint's
			// rename never happens.
			inj.Fail(vfs.Rule{Op: vfs.OpRename, Match: func(p string) bool { return strings.HasSuffix(p, checkpointFile) }})
			if err := h.f.Flush(); err == nil {
				t.Fatalf("Flush at %d succeeded despite the failed rename", i)
			}
			inj.Reset()
		}
		points = append(points, point{i, h.f.DurableIndex(), mem.CrashClone()})
	}
	for _, p := range points {
		t.Run(fmt.Sprintf("applied%d", p.applied), func(t *testing.T) {
			h2 := mustOpenHarnessFS(t, p.img, "/fsm")
			if got := h2.f.AppliedIndex(); got != p.durable {
				t.Fatalf("AppliedIndex after crash = %d, want the durable index %d", got, p.durable)
			}
			if got := h2.f.DurableIndex(); got != p.durable {
				t.Fatalf("DurableIndex after crash = %d, want %d", got, p.durable)
			}
			if got := stateHash(t, h2.f); got != want[p.durable] {
				t.Fatalf("state after crash differs from a replica's at the checkpoint %d", p.durable)
			}
			applyUpTo(h2, w, uint64(len(w)))
			if got := stateHash(t, h2.f); got != want[len(w)] {
				t.Fatalf("state after replay differs from a replica that never crashed")
			}
			if len(h2.fatal) != 0 {
				t.Fatalf("fatal errors: %v", h2.fatal)
			}
		})
	}
}

// Compaction swaps a KV store's log by two renames and a directory fsync
// after the checkpoint. A crash at any point of it, or a failed rename,
// leaves a disk that recovers to the checkpoint with the same state as a
// replica that never compacted; a failed step leaves the running store
// with an open log (the swap finished or undone), not a closed one that
// would make its next entry fatal.
func TestCrashDuringCompactionRecovers(t *testing.T) {
	w := [][]*fsmpb.Command{{createCmd(flowmesh.KindKV, "kv")}}
	for e := range 45 {
		var cmds []*fsmpb.Command
		for i := range 100 {
			cmds = append(cmds, &fsmpb.Command{Op: &fsmpb.Command_KvPut{KvPut: &fsmpb.KVPut{
				Path: "t/ns/kv", Key: fmt.Sprintf("k%d", i%3), Value: []byte(fmt.Sprintf("v%d.%d", e, i))}}})
		}
		w = append(w, cmds)
	}
	want := referenceHashes(t, w)
	isCompactRename := func(p string) bool { return strings.HasSuffix(p, "log.compact") }
	for _, tc := range []struct {
		name string
		rule *vfs.Rule // nil: compaction succeeds
	}{
		{"completed", nil},
		{"first rename fails", &vfs.Rule{Op: vfs.OpRename, Match: func(p string) bool { return strings.HasSuffix(p, "log.old") }}},
		{"second rename fails", &vfs.Rule{Op: vfs.OpRename, Match: isCompactRename}},
		// The first fsync of r/1 makes log.compact's entry durable.
		{"new log's directory fsync fails", &vfs.Rule{Op: vfs.OpSync, Match: func(p string) bool { return strings.HasSuffix(p, "/r/1") }}},
		{"swap's directory fsync fails", &vfs.Rule{Op: vfs.OpSync, Nth: 2, Match: func(p string) bool { return strings.HasSuffix(p, "/r/1") }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			inj := vfs.Inject(mem)
			h := mustOpenHarnessFS(t, inj, "/fsm")
			applyUpTo(h, w, 42)
			var fired func() int
			if tc.rule != nil {
				fired = inj.Fail(*tc.rule)
			}
			err := h.f.Flush()
			if tc.rule == nil && err != nil {
				t.Fatalf("Flush: %v", err)
			}
			if n := records(h.f.resources["t/ns/kv"].kv.log); tc.rule == nil && n >= minCompactRecords {
				t.Fatalf("KV log holds %d records after Flush; compaction did not run", n)
			}
			if tc.rule != nil {
				if fired() != 1 {
					t.Fatalf("rule fired %d times, want 1 (did compaction run?)", fired())
				}
				if !errors.As(err, new(*vfs.InjectedError)) {
					t.Fatalf("Flush = %v, want the injected error", err)
				}
			}
			if got := h.f.DurableIndex(); got != 42 {
				t.Fatalf("DurableIndex = %d, want 42 (the checkpoint precedes compaction)", got)
			}
			h2 := mustOpenHarnessFS(t, mem.CrashClone(), "/fsm")
			if got := h2.f.AppliedIndex(); got != 42 {
				t.Fatalf("AppliedIndex after crash = %d, want 42", got)
			}
			if got := stateHash(t, h2.f); got != want[42] {
				t.Fatalf("state after crash differs from a replica's at 42")
			}
			applyUpTo(h2, w, uint64(len(w)))
			if got := stateHash(t, h2.f); got != want[len(w)] {
				t.Fatalf("state after replay differs from a replica that never crashed")
			}
			// Without a crash, a failed compaction leaves the store a
			// working log: the node applies on.
			applyUpTo(h, w, uint64(len(w)))
			if len(h.fatal) != 0 {
				t.Fatalf("fatal errors after the compaction: %v", h.fatal)
			}
			if got := stateHash(t, h.f); got != want[len(w)] {
				t.Fatalf("state after the compaction differs from a replica that never compacted")
			}
			if err := h.f.Flush(); err != nil {
				t.Fatalf("Flush after the compaction: %v", err)
			}
		})
	}
}
