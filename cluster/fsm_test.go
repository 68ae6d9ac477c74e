package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/flowmesh/flowmesh/internal/logentry"
	"github.com/flowmesh/flowmesh/internal/snapdir"
)

// counterFSM is a test-only FSM: it counts commands, answers each with the
// running count, and snapshots its state as a file, either hard-linked into
// the sink's Dir() or streamed through Write.
type counterFSM struct {
	dir     string // scratch dir for snapshot files
	stream  bool   // persist through Write instead of Dir()
	durable bool   // claim the current state is on disk (DurableIndex = Applied)

	mu        sync.Mutex
	st        counterState
	entries   int // command log entries applied
	restored  int // Restore calls
	stampErrs []string
}

type counterState struct {
	Applied   uint64
	Count     int
	LastStamp int64
}

var _ FSM = (*counterFSM)(nil)

var errFail = errors.New("counter: command asked to fail")

func newCounterFSM(dir string, stream bool) *counterFSM {
	return &counterFSM{dir: dir, stream: stream}
}

func (f *counterFSM) ApplyBatch(logs []*raft.Log) []any {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]any, len(logs))
	for i, l := range logs {
		if l.Index <= f.st.Applied {
			continue // replayed after a restart without restore
		}
		f.st.Applied = l.Index
		if l.Type != raft.LogCommand {
			continue
		}
		e, err := logentry.Decode(l.Data)
		if err != nil {
			out[i] = err
			continue
		}
		f.entries++
		if e.Stamp < f.st.LastStamp {
			f.stampErrs = append(f.stampErrs, fmt.Sprintf("index %d stamp %d < %d", l.Index, e.Stamp, f.st.LastStamp))
		}
		f.st.LastStamp = e.Stamp
		res := make([]any, len(e.Commands))
		for j, c := range e.Commands {
			if string(c) == "fail" {
				res[j] = errFail
				continue
			}
			f.st.Count++
			res[j] = f.st.Count
		}
		out[i] = res
	}
	return out
}

func (f *counterFSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

func (f *counterFSM) AppliedIndex() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.Applied
}

func (f *counterFSM) LastStamp() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.LastStamp
}

func (f *counterFSM) DurableIndex() uint64 {
	if !f.durable {
		return 0
	}
	return f.AppliedIndex()
}

func (f *counterFSM) state() (counterState, int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st, f.entries, f.restored
}

func (f *counterFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Write the state to an immutable file now; Persist only links it.
	b, err := json.Marshal(f.st)
	if err != nil {
		return nil, err
	}
	p := filepath.Join(f.dir, fmt.Sprintf("state-%020d.json", f.st.Applied))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return nil, err
	}
	return &counterSnapshot{path: p, stream: f.stream}, nil
}

func (f *counterFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	tmp, err := os.MkdirTemp(f.dir, "restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dst := filepath.Join(tmp, "d")
	if err := snapdir.Read(rc, dst); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(dst, "state.json"))
	if err != nil {
		return err
	}
	var st counterState
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st = st
	f.restored++
	return nil
}

type counterSnapshot struct {
	path   string
	stream bool
}

func (s *counterSnapshot) Persist(sink raft.SnapshotSink) error {
	if d, ok := sink.(interface{ Dir() string }); ok && !s.stream {
		if err := os.Link(s.path, filepath.Join(d.Dir(), "state.json")); err != nil {
			sink.Cancel()
			return err
		}
		return sink.Close()
	}
	tmp, err := os.MkdirTemp(filepath.Dir(s.path), "persist-")
	if err != nil {
		sink.Cancel()
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Link(s.path, filepath.Join(tmp, "state.json")); err != nil {
		sink.Cancel()
		return err
	}
	if err := snapdir.Write(sink, tmp); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *counterSnapshot) Release() {}
