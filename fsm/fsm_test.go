package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
	"github.com/flowmesh/flowmesh/internal/logentry"
	"github.com/flowmesh/flowmesh/internal/snapdir"
	"github.com/flowmesh/flowmesh/internal/vfs"
)

// harness drives an FSM with hand-made log entries, as raft would.
type harness struct {
	t     *testing.T
	f     *FSM
	index uint64
	stamp int64
	fatal []error
}

func openHarness(t *testing.T, dir string) *harness {
	t.Helper()
	h := &harness{t: t, stamp: 1_000_000_000}
	cfg := DefaultConfig(dir)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.OnFatal = func(err error) { h.fatal = append(h.fatal, err) }
	f, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.f = f
	h.index = f.AppliedIndex()
	t.Cleanup(func() { f.Close() })
	return h
}

// apply commits one entry holding cmds and returns the per-command results.
func (h *harness) apply(cmds ...*fsmpb.Command) []any {
	h.t.Helper()
	out := h.f.ApplyBatch([]*raft.Log{h.entry(cmds...)})
	res, _ := out[0].([]any)
	return res
}

// entry is the next log entry, holding cmds, as raft hands it to the FSM.
func (h *harness) entry(cmds ...*fsmpb.Command) *raft.Log {
	h.t.Helper()
	e := logentry.Entry{Stamp: h.stamp}
	for _, c := range cmds {
		b, err := proto.Marshal(c)
		if err != nil {
			h.t.Fatal(err)
		}
		e.Commands = append(e.Commands, b)
	}
	h.index++
	h.stamp += 1000
	return &raft.Log{Index: h.index, Type: raft.LogCommand, Data: logentry.Encode(e)}
}

func (h *harness) mustApply(cmds ...*fsmpb.Command) []*Result {
	h.t.Helper()
	var out []*Result
	for i, r := range h.apply(cmds...) {
		res, ok := r.(*Result)
		if !ok {
			h.t.Fatalf("command %d: %v", i, r)
		}
		out = append(out, res)
	}
	return out
}

func createCmd(kind flowmesh.Kind, name string) *fsmpb.Command {
	r := &fsmpb.Resource{Tenant: "t", Namespace: "ns", Name: name, Kind: int32(kind), Partitions: 2}
	switch kind {
	case flowmesh.KindQueue:
		r.Partitions, r.VisibilityTimeout, r.MaxAttempts, r.MaxPayload = 1, 1e9, 3, 1024
	case flowmesh.KindKV:
		r.HistoryRevisions = 100
	}
	return &fsmpb.Command{Op: &fsmpb.Command_CreateResource{CreateResource: &fsmpb.CreateResource{Resource: r}}}
}

// populate writes some of everything.
func populate(h *harness, n int) {
	h.mustApply(createCmd(flowmesh.KindStream, "s"), createCmd(flowmesh.KindQueue, "q"), createCmd(flowmesh.KindKV, "kv"))
	for i := 0; i < n; i++ {
		p := []byte(fmt.Sprintf("payload-%d", i))
		h.mustApply(
			&fsmpb.Command{Op: &fsmpb.Command_WriteEvents{WriteEvents: &fsmpb.WriteEvents{Path: "t/ns/s", Events: []*fsmpb.Event{{Payload: p, Key: string(p)}}}}},
			&fsmpb.Command{Op: &fsmpb.Command_Enqueue{Enqueue: &fsmpb.Enqueue{Path: "t/ns/q", Payload: p}}},
			&fsmpb.Command{Op: &fsmpb.Command_KvPut{KvPut: &fsmpb.KVPut{Path: "t/ns/kv", Key: fmt.Sprintf("k%d", i%7), Value: p}}},
			&fsmpb.Command{Op: &fsmpb.Command_Reserve{Reserve: &fsmpb.Reserve{Path: "t/ns/q"}}},
			&fsmpb.Command{Op: &fsmpb.Command_CommitOffset{CommitOffset: &fsmpb.CommitOffset{Path: "t/ns/s", Group: "g", Partition: 1, Offset: uint64(i)}}},
		)
	}
}

func stateHash(t *testing.T, f *FSM) string {
	t.Helper()
	h, err := f.StateHash()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// crash closes the stores without writing a checkpoint, as a kill would.
func crash(f *FSM) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closeStores()
	f.closed = true
}

// bufferSink is a raft.SnapshotSink without a directory: Persist streams.
type bufferSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *bufferSink) ID() string    { return "test" }
func (s *bufferSink) Close() error  { s.closed = true; return nil }
func (s *bufferSink) Cancel() error { s.cancelled = true; return nil }

// dirSink offers a directory: Persist hard-links into it.
type dirSink struct {
	bufferSink
	dir string
}

func (s *dirSink) Dir() string { return s.dir }

func TestSnapshotRestoreGivesIdenticalState(t *testing.T) {
	for _, viaDir := range []bool{false, true} {
		t.Run(fmt.Sprintf("dirSink=%v", viaDir), func(t *testing.T) {
			src := openHarness(t, filepath.Join(t.TempDir(), "src"))
			populate(src, 300)
			src.mustApply(quotaCmd("t", false, &fsmpb.QuotaLimits{StoredBytes: proto.Int64(1 << 20)}))
			wantUsage := kept(src.f)
			want := stateHash(t, src.f)
			snap, err := src.f.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			var stream bytes.Buffer
			if viaDir {
				sink := &dirSink{dir: filepath.Join(t.TempDir(), "snap")}
				if err := snap.Persist(sink); err != nil {
					t.Fatal(err)
				}
				if err := snapdir.Write(&stream, sink.dir); err != nil {
					t.Fatal(err)
				}
			} else {
				sink := &bufferSink{}
				if err := snap.Persist(sink); err != nil {
					t.Fatal(err)
				}
				if !sink.closed || sink.cancelled {
					t.Fatalf("sink closed=%v cancelled=%v, want closed only", sink.closed, sink.cancelled)
				}
				stream = sink.Buffer
			}
			snap.Release()
			// Writes after the snapshot must not leak into it.
			src.mustApply(&fsmpb.Command{Op: &fsmpb.Command_KvPut{KvPut: &fsmpb.KVPut{Path: "t/ns/kv", Key: "later", Value: []byte("x")}}})

			dst := openHarness(t, filepath.Join(t.TempDir(), "dst"))
			dst.mustApply(createCmd(flowmesh.KindKV, "junk")) // state to be discarded
			if err := dst.f.Restore(io.NopCloser(&stream)); err != nil {
				t.Fatal(err)
			}
			if got := stateHash(t, dst.f); got != want {
				t.Fatalf("restored state hash %s, want %s", got, want)
			}
			if got := kept(dst.f); fmt.Sprint(got) != fmt.Sprint(wantUsage) {
				t.Fatalf("restored usage %v, want %v", got, wantUsage)
			}
			checkUsage(t, dst.f, "after restore")
			if q := dst.f.Quota("t"); q.Limits.StoredBytes != 1<<20 {
				t.Fatalf("restored quota %+v", q)
			}
			if dst.f.AppliedIndex() != src.index-1 {
				t.Fatalf("restored applied index %d, want %d", dst.f.AppliedIndex(), src.index-1)
			}
			if _, err := dst.f.Resource("t/ns/junk"); !errors.Is(err, flowmesh.ErrNotFound) {
				t.Fatalf("state from before the restore survived: %v", err)
			}
		})
	}
}

func TestRestoreRejectsCorruptSnapshot(t *testing.T) {
	src := openHarness(t, filepath.Join(t.TempDir(), "src"))
	populate(src, 50)
	snap, err := src.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &bufferSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	b := sink.Bytes()
	b[len(b)/2] ^= 0xff
	dst := openHarness(t, filepath.Join(t.TempDir(), "dst"))
	populate(dst, 3)
	before := stateHash(t, dst.f)
	if err := dst.f.Restore(io.NopCloser(bytes.NewReader(b))); err == nil {
		t.Fatal("restore of a corrupt snapshot succeeded")
	}
	if got := stateHash(t, dst.f); got != before {
		t.Fatalf("a failed restore changed the state")
	}
}

func TestReplayGuardSkipsDurableEntries(t *testing.T) {
	dir := t.TempDir()
	h := openHarness(t, dir)
	populate(h, 40)
	if err := h.f.Flush(); err != nil {
		t.Fatal(err)
	}
	want := stateHash(t, h.f)
	durable := h.f.DurableIndex()
	// Entries after the checkpoint reach the logs but not the checkpoint.
	extra := h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_WriteEvents{WriteEvents: &fsmpb.WriteEvents{Path: "t/ns/s", Events: []*fsmpb.Event{{Payload: []byte("late")}}}}})
	lateIndex := h.index
	lateStamp := h.stamp - 1000
	crash(h.f)

	// Reopen: the stores are cut back to the checkpoint...
	h2 := openHarness(t, dir)
	if got := stateHash(t, h2.f); got != want {
		t.Fatalf("state after reopen %s, want the checkpoint's %s", got, want)
	}
	if h2.f.AppliedIndex() != durable {
		t.Fatalf("applied index %d after reopen, want %d", h2.f.AppliedIndex(), durable)
	}
	// ...raft replays everything since its snapshot (here: from the start);
	// entries up to the checkpoint must be skipped, the rest applied once.
	h2.index, h2.stamp = 0, 1_000_000_000
	populate(h2, 40)
	h2.index, h2.stamp = lateIndex-1, lateStamp
	again := h2.mustApply(&fsmpb.Command{Op: &fsmpb.Command_WriteEvents{WriteEvents: &fsmpb.WriteEvents{Path: "t/ns/s", Events: []*fsmpb.Event{{Payload: []byte("late")}}}}})
	if again[0].Positions[0] != extra[0].Positions[0] {
		t.Fatalf("replayed write landed at %v, first time at %v", again[0].Positions[0], extra[0].Positions[0])
	}
	info, err := h2.f.PartitionInfo("t/ns/s", 0)
	if err != nil {
		t.Fatal(err)
	}
	info1, _ := h2.f.PartitionInfo("t/ns/s", 1)
	if total := info.Next + info1.Next; total != 41 {
		t.Fatalf("stream holds %d events after replay, want 41", total)
	}
}

func TestIOErrorInApplyIsFatal(t *testing.T) {
	h := openHarness(t, t.TempDir())
	h.mustApply(createCmd(flowmesh.KindStream, "s"))
	// Pull the log out from under the FSM.
	h.f.resources["t/ns/s"].stream.parts[0].log.Close()
	h.apply(&fsmpb.Command{Op: &fsmpb.Command_WriteEvents{WriteEvents: &fsmpb.WriteEvents{Path: "t/ns/s", Events: []*fsmpb.Event{{Payload: []byte("x")}}}}})
	if len(h.fatal) != 1 {
		t.Fatalf("OnFatal called %d times, want 1", len(h.fatal))
	}
	if h.f.AppliedIndex() == h.index {
		t.Fatalf("the failed entry counts as applied")
	}
}

func TestDeletedResourceComesBackUntilCheckpointed(t *testing.T) {
	dir := t.TempDir()
	h := openHarness(t, dir)
	populate(h, 5)
	if err := h.f.Flush(); err != nil {
		t.Fatal(err)
	}
	want := stateHash(t, h.f)
	h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_DeleteResource{DeleteResource: &fsmpb.DeleteResource{Path: "t/ns/s"}}})
	crash(h.f)
	h2 := openHarness(t, dir)
	if got := stateHash(t, h2.f); got != want {
		t.Fatalf("after a crash before the delete was checkpointed, state %s, want %s", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "trash")); err != nil {
		t.Fatal(err)
	}
}

// FuzzApply throws arbitrary entries and commands at the FSM: nothing may
// panic, and nothing but a real I/O error may be fatal.
func FuzzApply(f *testing.F) {
	valid, _ := proto.Marshal(&fsmpb.Command{Op: &fsmpb.Command_WriteEvents{WriteEvents: &fsmpb.WriteEvents{Path: "t/ns/s", Events: []*fsmpb.Event{{Payload: []byte("x"), Partition: 1}}}}})
	put, _ := proto.Marshal(&fsmpb.Command{Op: &fsmpb.Command_KvPut{KvPut: &fsmpb.KVPut{Path: "t/ns/kv", Key: "k", Value: []byte("v"), HasIfRevision: true}}})
	f.Add(valid, false)
	f.Add(put, false)
	f.Add(logentry.Encode(logentry.Entry{Stamp: 5, Commands: [][]byte{valid, put}}), true)
	f.Add([]byte{0xff, 0x01}, true)
	dir := f.TempDir()
	n := 0
	f.Fuzz(func(t *testing.T, data []byte, raw bool) {
		n++
		h := openHarness(t, filepath.Join(dir, fmt.Sprint(n)))
		h.mustApply(createCmd(flowmesh.KindStream, "s"), createCmd(flowmesh.KindQueue, "q"), createCmd(flowmesh.KindKV, "kv"))
		if raw {
			h.index++
			h.f.ApplyBatch([]*raft.Log{{Index: h.index, Type: raft.LogCommand, Data: data}})
		} else {
			e := logentry.Encode(logentry.Entry{Stamp: h.stamp, Commands: [][]byte{data}})
			h.index++
			h.f.ApplyBatch([]*raft.Log{{Index: h.index, Type: raft.LogCommand, Data: e}})
		}
		if len(h.fatal) > 0 {
			t.Fatalf("fatal on input: %v", h.fatal)
		}
		if _, err := h.f.StateHash(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCompactionKeepsStateAndHistory(t *testing.T) {
	dir := t.TempDir()
	h := openHarness(t, dir)
	h.mustApply(createCmd(flowmesh.KindQueue, "q"), createCmd(flowmesh.KindKV, "kv"))
	for i := 0; i < 3000; i++ {
		p := []byte(fmt.Sprintf("p%d", i))
		res := h.mustApply(
			&fsmpb.Command{Op: &fsmpb.Command_Enqueue{Enqueue: &fsmpb.Enqueue{Path: "t/ns/q", Payload: p}}},
			&fsmpb.Command{Op: &fsmpb.Command_Reserve{Reserve: &fsmpb.Reserve{Path: "t/ns/q"}}},
			&fsmpb.Command{Op: &fsmpb.Command_KvPut{KvPut: &fsmpb.KVPut{Path: "t/ns/kv", Key: fmt.Sprintf("k%d", i%5), Value: p}}},
			&fsmpb.Command{Op: &fsmpb.Command_KvPut{KvPut: &fsmpb.KVPut{Path: "t/ns/kv", Key: fmt.Sprintf("x%d", i%3), Value: p}}},
		)
		if i%3 != 0 { // ack two of three
			j := res[1].Job
			h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_Ack{Ack: &fsmpb.Ack{Path: "t/ns/q", JobId: j.ID, Attempt: int32(j.Attempt)}}})
		}
	}
	want := stateHash(t, h.f)
	qBefore, kvBefore := records(h.f.resources["t/ns/q"].queue.log), records(h.f.resources["t/ns/kv"].kv.log)
	var ce *flowmesh.CompactedError
	if _, _, err := h.f.KVEvents("t/ns/kv", "", 1, 0); !errors.As(err, &ce) {
		t.Fatalf("watch from revision 1 with 100 retained: %v, want CompactedError", err)
	}
	events, _, err := h.f.KVEvents("t/ns/kv", "", ce.Oldest, 0)
	if err != nil || len(events) != 100 {
		t.Fatalf("history: %d events, %v; want 100", len(events), err)
	}
	if err := h.f.Flush(); err != nil {
		t.Fatal(err)
	}
	qAfter, kvAfter := records(h.f.resources["t/ns/q"].queue.log), records(h.f.resources["t/ns/kv"].kv.log)
	if qAfter >= qBefore/4 || kvAfter >= kvBefore/2 {
		t.Fatalf("logs not compacted: queue %d -> %d records, kv %d -> %d", qBefore, qAfter, kvBefore, kvAfter)
	}
	check := func(f *FSM) {
		t.Helper()
		if got := stateHash(t, f); got != want {
			t.Fatalf("state changed by compaction")
		}
		_, _, err := f.KVEvents("t/ns/kv", "", events[0].Revision-1, 0)
		var ce *flowmesh.CompactedError
		if !errors.As(err, &ce) || ce.Oldest != events[0].Revision {
			t.Fatalf("watch below history: %v, want CompactedError{Oldest: %d}", err, events[0].Revision)
		}
		got, _, err := f.KVEvents("t/ns/kv", "", events[0].Revision, 0)
		if err != nil || len(got) != len(events) {
			t.Fatalf("history after compaction: %d events, %v; want %d", len(got), err, len(events))
		}
		for i := range got {
			if got[i].Revision != events[i].Revision || got[i].Key != events[i].Key || !bytes.Equal(got[i].Value, events[i].Value) {
				t.Fatalf("history event %d = %+v, want %+v", i, got[i], events[i])
			}
		}
	}
	check(h.f)
	h.f.Close()
	h2 := openHarness(t, dir)
	check(h2.f)
	// The queue still works after compaction: the next enqueue continues the sequence.
	res := h2.mustApply(&fsmpb.Command{Op: &fsmpb.Command_Enqueue{Enqueue: &fsmpb.Enqueue{Path: "t/ns/q", Payload: []byte("next")}}})
	if res[0].Seq != 3001 {
		t.Fatalf("sequence after compaction = %d, want 3001", res[0].Seq)
	}
}

func TestRecoverInterruptedCompaction(t *testing.T) {
	mk := func(t *testing.T, dirs ...string) string {
		root := t.TempDir()
		for _, d := range dirs {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(root, d, "marker"), []byte(d), 0o644)
		}
		return root
	}
	for _, tc := range []struct {
		name string
		dirs []string
		want string // which directory's marker ends up in log
	}{
		{"before first rename", []string{"log", "log.compact"}, "log"},
		{"between renames", []string{"log.old", "log.compact"}, "log.old"},
		{"before removing old", []string{"log", "log.old"}, "log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := mk(t, tc.dirs...)
			if err := recoverCompaction(vfs.Default, root); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(root, "log", "marker"))
			if err != nil || string(b) != tc.want {
				t.Fatalf("log holds %q (%v), want %q", b, err, tc.want)
			}
			for _, gone := range []string{"log.old", "log.compact"} {
				if _, err := os.Stat(filepath.Join(root, gone)); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("%s left behind", gone)
				}
			}
		})
	}
}

// FuzzOpenCheckpoint opens an FSM over arbitrary checkpoint bytes (seeded
// with a real checkpoint of three resources): Open either refuses them with
// an error naming the checkpoint or opens a state it can hash; nothing may
// panic, and a decodable checkpoint with impossible resources is refused.
func FuzzOpenCheckpoint(f *testing.F) {
	cp := &fsmpb.Checkpoint{Index: 7, Stamp: 1_000_000_000, NextResourceId: 3}
	for i, k := range []flowmesh.Kind{flowmesh.KindStream, flowmesh.KindQueue, flowmesh.KindKV} {
		m := proto.Clone(createCmd(k, fmt.Sprint("r", i)).GetCreateResource().GetResource()).(*fsmpb.Resource)
		m.Id = uint64(i + 1)
		cp.Resources = append(cp.Resources, m)
	}
	real, err := proto.Marshal(cp)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real)
	f.Add(real[:len(real)/2])
	f.Add([]byte{})
	huge, _ := proto.Marshal(&fsmpb.Checkpoint{NextResourceId: 1, Resources: []*fsmpb.Resource{{Tenant: "t", Namespace: "ns", Name: "s", Kind: int32(flowmesh.KindStream), Partitions: 1 << 30, Id: 1}}})
	f.Add(huge)
	over, _ := proto.Marshal(&fsmpb.Checkpoint{NextResourceId: 1, Resources: []*fsmpb.Resource{{Tenant: "t", Namespace: "ns", Name: "s", Kind: int32(flowmesh.KindStream), Partitions: flowmesh.MaxPartitions + 1, Id: 1}}})
	f.Add(over)
	dup, _ := proto.Marshal(&fsmpb.Checkpoint{NextResourceId: 3, Resources: []*fsmpb.Resource{cp.Resources[0], cp.Resources[0]}})
	f.Add(dup)
	dir := f.TempDir()
	n := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		n++
		d := filepath.Join(dir, fmt.Sprint(n))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, checkpointFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig(d)
		cfg.Logger = slog.New(slog.DiscardHandler)
		cfg.OnFatal = func(err error) { t.Errorf("fatal: %v", err) }
		fm, err := Open(cfg)
		if err != nil {
			if !strings.Contains(err.Error(), checkpointFile) && !strings.Contains(err.Error(), "fsm:") {
				t.Errorf("Open error does not say where: %v", err)
			}
			return
		}
		defer fm.Close()
		if _, err := fm.StateHash(); err != nil {
			t.Fatal(err)
		}
		var cp fsmpb.Checkpoint
		if proto.Unmarshal(data, &cp) == nil {
			seen := map[string]bool{}
			for _, m := range cp.Resources {
				if ValidateResource(m) != nil {
					t.Fatalf("opened a checkpoint holding an invalid resource %v", m)
				}
				for _, k := range []string{"id " + fmt.Sprint(m.Id), "path " + m.Tenant + "/" + m.Namespace + "/" + m.Name} {
					if seen[k] {
						t.Fatalf("opened a checkpoint whose resources share an %s", k)
					}
					seen[k] = true
				}
			}
		}
	})
}
