package fsm

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
	"github.com/flowmesh/flowmesh/internal/logentry"
	"github.com/flowmesh/flowmesh/internal/vfs"
	"github.com/flowmesh/flowmesh/segment"
)

// Config configures the FSM.
type Config struct {
	Dir     string
	Segment segment.Config
	Logger  *slog.Logger
	// FS is the file system of Dir; nil is the operating system
	// (vfs.Default). Open passes it to the logs it opens unless
	// Segment.FS is set. Tests inject I/O errors and crashes through it;
	// snapshot Persist and Restore stream through the OS (doc.go).
	FS vfs.FS
	// OnFatal is called when applying a committed entry fails with an I/O
	// error. The default logs and exits the process: continuing would
	// diverge from the other replicas.
	OnFatal func(error)
	// OnNoSpace is called, from Apply with the FSM locked (it must not
	// call the FSM), when writing a committed entry fails for want of
	// space, before Apply waits and retries (see doc.go, "Full disk"): the
	// node frees what it can (its ballast) and raises its alarm. Optional.
	OnNoSpace func(error)
	// DedupWindow, DedupMaxEntries and DedupMaxBytes bound the request-ID
	// dedup window, measured in stamped time, in entries and in the
	// approximate bytes of the remembered results (reserve results carry
	// payloads). Every replica must use the same values: the window decides
	// what a retried command returns.
	DedupWindow     time.Duration
	DedupMaxEntries int
	DedupMaxBytes   int64
}

// DefaultConfig returns the defaults for dir.
func DefaultConfig(dir string) Config {
	return Config{
		Dir:             dir,
		Segment:         segment.DefaultConfig(),
		DedupWindow:     10 * time.Minute,
		DedupMaxEntries: 20000,
		DedupMaxBytes:   4 << 20,
	}
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("fsm: Dir is empty"))
	}
	if c.DedupWindow <= 0 {
		errs = append(errs, errors.New("fsm: DedupWindow must be positive"))
	}
	if c.DedupMaxEntries <= 0 {
		errs = append(errs, errors.New("fsm: DedupMaxEntries must be positive"))
	}
	if c.DedupMaxBytes <= 0 {
		errs = append(errs, errors.New("fsm: DedupMaxBytes must be positive"))
	}
	if err := c.Segment.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Result is a successful command's result.
type Result struct {
	Positions []flowmesh.Position
	JobID     string
	Seq       uint64
	Job       *flowmesh.Job // Reserve; nil when no job was ready
	Revision  uint64
	Count     int
	Resource  *flowmesh.Resource
	Jobs      []flowmesh.Job // ReserveBatch; empty when no job was ready
	Items     []ItemResult   // EnqueueBatch, AckBatch: one per item
	Txn       *flowmesh.TxnResult
}

// FSM is the replicated state machine.
type FSM struct {
	cfg Config
	log *slog.Logger

	// flushMu serialises flushes (Flush, Snapshot, Close); taken before mu.
	flushMu sync.Mutex
	// mu guards all state below; Apply holds it for writing, reads for reading.
	mu           sync.RWMutex
	resources    map[string]*resource // by path
	nextID       uint64
	groups       map[groupKey]uint64
	kvRev        uint64
	dedup        *dedupWindow
	pendingTrash []trashEntry
	// quotas holds each tenant's own limits ("*" = the cluster default);
	// usage each tenant's use, kept current by every apply (quota.go).
	quotas map[string]*fsmpb.QuotaLimits
	usage  map[string]*usage
	// memory is every tenant's MemoryBytes together, checked against the
	// cluster-wide memory quota.
	memory int64

	applied atomic.Uint64
	stamp   atomic.Int64
	durable atomic.Uint64
	// guard is the durable index found at Open (or set by Restore):
	// entries at or below it are already in the local stores.
	guard uint64

	changes *broadcaster
	closed  bool
	// stalled is set while Apply waits for disk space; abort (Abort) makes
	// it give up, after which aborted holds: no checkpoint is written.
	stalled   atomic.Bool
	abort     chan struct{}
	abortOnce sync.Once
	aborted   bool
	// failed is the fatal error an apply met (doc.go, "Failures"): memory
	// may hold effects the stores lack, so no entry is applied and no
	// checkpoint written after it, even when OnFatal returns.
	failed error

	// pending holds the records an ApplyBatch appends, per log in first-use
	// order, written at the end of the batch: a group-committed entry costs
	// one write per log rather than one per command.
	pending     map[*segment.Log][]segment.Record
	pendingLogs []*segment.Log

	bugs bugs // deliberate bugs of the flowmesh_faults build (bugs.go)
}

var _ raft.BatchingFSM = (*FSM)(nil)

type groupKey struct {
	path, group string
	partition   int32
}

type trashEntry struct {
	dir   string
	index uint64
}

type resource struct {
	meta   *fsmpb.Resource
	path   string
	dir    string
	stream *streamState
	queue  *queueState
	kv     *kvState
}

const checkpointFile = "checkpoint.pb"

// resourcesDir holds every resource's logs, one directory per resource ID
// (the layout in doc.go).
const resourcesDir = "r"

// Open opens (or creates) the FSM's state in cfg.Dir and recovers it to the
// last checkpoint.
func Open(cfg Config) (*FSM, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.OnFatal == nil {
		logger := cfg.Logger
		cfg.OnFatal = func(err error) {
			logger.Error("fsm: fatal error applying a committed entry; exiting to avoid divergence", "err", err)
			os.Exit(70)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Per-resource segment settings (streamSegmentConfig) start from the
	// effective options, segment's defaults filled in.
	cfg.Segment.EnsureDefaults()
	cfg.FS = vfs.Or(cfg.FS)
	if cfg.Segment.FS == nil {
		cfg.Segment.FS = cfg.FS
	}
	f := &FSM{cfg: cfg, log: cfg.Logger.With("component", "fsm"), changes: newBroadcaster(), abort: make(chan struct{}), bugs: loadBugs()}
	if err := f.load(); err != nil {
		f.closeStores()
		return nil, err
	}
	return f, nil
}

// load reads the checkpoint and opens every store cut back to it.
func (f *FSM) load() error {
	dir := f.cfg.Dir
	fsys := f.cfg.FS
	for _, d := range []string{dir, filepath.Join(dir, resourcesDir), filepath.Join(dir, "trash")} {
		if err := vfs.MkdirAll(fsys, d, 0o755); err != nil {
			return fmt.Errorf("fsm: %w", err)
		}
	}
	_ = fsys.RemoveAll(filepath.Join(dir, "staging"))
	cp := &fsmpb.Checkpoint{}
	b, err := vfs.ReadFile(fsys, filepath.Join(dir, checkpointFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("fsm: read checkpoint: %w", err)
	default:
		if err := proto.Unmarshal(b, cp); err != nil {
			return fmt.Errorf("fsm: checkpoint %s is corrupt: %w", filepath.Join(dir, checkpointFile), err)
		}
		if err := checkCheckpoint(cp); err != nil {
			return fmt.Errorf("fsm: checkpoint %s is corrupt: %w", filepath.Join(dir, checkpointFile), err)
		}
	}
	f.resources = map[string]*resource{}
	f.groups = map[groupKey]uint64{}
	f.dedup = newDedupWindow(f.cfg.DedupWindow, f.cfg.DedupMaxEntries, f.cfg.DedupMaxBytes)
	f.pendingTrash = nil
	f.quotas = map[string]*fsmpb.QuotaLimits{}
	f.usage = map[string]*usage{}
	f.memory = 0
	for _, q := range cp.Quotas {
		if q.Limits != nil {
			f.quotas[q.Tenant] = q.Limits
		}
	}
	f.nextID = cp.NextResourceId
	f.kvRev = cp.KvRevision
	f.guard = cp.Index
	f.applied.Store(cp.Index)
	if f.bugs.doubleApply {
		f.guard = 0
		f.applied.Store(0)
	}
	f.durable.Store(cp.Index)
	f.stamp.Store(cp.Stamp)

	if err := f.recoverTrash(cp.Index); err != nil {
		return err
	}
	known := map[string]bool{}
	for _, m := range cp.Resources {
		r, err := f.openResource(m, cp.Index)
		if err != nil {
			return err
		}
		f.resources[r.path] = r
		known[strconv.FormatUint(m.Id, 10)] = true
	}
	// Directories of resources created after the checkpoint: replay recreates them.
	entries, err := fsys.ReadDir(filepath.Join(dir, resourcesDir))
	if err != nil {
		return fmt.Errorf("fsm: %w", err)
	}
	for _, e := range entries {
		if !known[e.Name()] {
			if err := fsys.RemoveAll(filepath.Join(dir, resourcesDir, e.Name())); err != nil {
				return fmt.Errorf("fsm: remove uncheckpointed resource dir: %w", err)
			}
		}
	}
	for _, g := range cp.Groups {
		f.groups[groupKey{g.Path, g.Group, g.Partition}] = g.Offset
	}
	for _, p := range cp.Partitions {
		if r := f.resources[p.Path]; r != nil && r.stream != nil && int(p.Partition) < len(r.stream.parts) {
			r.stream.parts[p.Partition].earliest = p.Earliest
			r.stream.parts[p.Partition].bytes = p.Bytes
		}
	}
	for _, path := range f.sortedPaths() {
		r := f.resources[path]
		if r.stream != nil && !cp.UsageCounted {
			for i, p := range r.stream.parts {
				n, err := countStreamBytes(p)
				if err != nil {
					return fmt.Errorf("fsm: count bytes of %s partition %d: %w", path, i, err)
				}
				p.bytes = n
			}
		}
		f.attachUsage(r)
	}
	for k := range f.groups {
		if r := f.resources[k.path]; r != nil {
			f.chargeGroup(r, k, 1)
		}
	}
	if f.bugs.doubleApply {
		return nil
	}
	for _, d := range cp.Dedup {
		f.dedup.put(d.RequestId, d.Stamp, resultFromPB(d.Result))
	}
	return nil
}

// checkCheckpoint refuses a checkpoint that decodes but cannot be one this
// FSM wrote (a flipped bit can turn one valid protobuf into another):
// every resource must pass the checks of its create, with an ID at most
// NextResourceId, and no ID or path may repeat. Opening such resources
// could make thousands of directories or name the wrong ones.
func checkCheckpoint(cp *fsmpb.Checkpoint) error {
	ids := map[uint64]bool{}
	paths := map[string]bool{}
	for i, m := range cp.Resources {
		if err := ValidateResource(m); err != nil {
			return fmt.Errorf("resource %d: %w", i, err)
		}
		path := flowmesh.JoinPath(m.Tenant, m.Namespace, m.Name)
		switch {
		case m.Id == 0 || m.Id > cp.NextResourceId:
			return fmt.Errorf("resource %d (%s): id %d outside 1..%d", i, path, m.Id, cp.NextResourceId)
		case ids[m.Id]:
			return fmt.Errorf("resource %d (%s): id %d repeats", i, path, m.Id)
		case paths[path]:
			return fmt.Errorf("resource %d: path %s repeats", i, path)
		}
		ids[m.Id], paths[path] = true, true
	}
	tenants := map[string]bool{}
	for i, q := range cp.Quotas {
		if err := ValidateSetQuota(&fsmpb.SetQuota{Tenant: q.Tenant, Limits: q.Limits}); err != nil {
			return fmt.Errorf("quota %d: %w", i, err)
		}
		if tenants[q.Tenant] {
			return fmt.Errorf("quota %d: tenant %s repeats", i, q.Tenant)
		}
		tenants[q.Tenant] = true
	}
	for i, p := range cp.Partitions {
		if p.Bytes < 0 {
			return fmt.Errorf("partition state %d (%s): bytes %d is negative", i, p.Path, p.Bytes)
		}
	}
	return nil
}

// recoverTrash brings back resources deleted after the checkpoint (replay
// deletes them again) and removes those deleted at or before it.
func (f *FSM) recoverTrash(index uint64) error {
	trash := filepath.Join(f.cfg.Dir, "trash")
	entries, err := f.cfg.FS.ReadDir(trash)
	if err != nil {
		return fmt.Errorf("fsm: %w", err)
	}
	for _, e := range entries {
		id, idx, ok := strings.Cut(e.Name(), "-")
		n, err := strconv.ParseUint(idx, 10, 64)
		if !ok || err != nil {
			return fmt.Errorf("fsm: unexpected entry %s in trash", e.Name())
		}
		src := filepath.Join(trash, e.Name())
		if n <= index {
			if err := f.cfg.FS.RemoveAll(src); err != nil {
				return fmt.Errorf("fsm: empty trash: %w", err)
			}
			continue
		}
		if err := f.cfg.FS.Rename(src, filepath.Join(f.cfg.Dir, resourcesDir, id)); err != nil {
			return fmt.Errorf("fsm: restore deleted resource %s: %w", id, err)
		}
	}
	return nil
}

func (f *FSM) openResource(m *fsmpb.Resource, index uint64) (*resource, error) {
	r := &resource{meta: m, path: flowmesh.JoinPath(m.Tenant, m.Namespace, m.Name),
		dir: filepath.Join(f.cfg.Dir, resourcesDir, strconv.FormatUint(m.Id, 10))}
	var err error
	switch flowmesh.Kind(m.Kind) {
	case flowmesh.KindStream:
		r.stream, err = openStream(r.dir, int(m.Partitions), streamSegmentConfig(f.cfg.Segment, m), index)
	case flowmesh.KindQueue:
		r.queue, err = openQueue(r.dir, m, f.cfg.Segment, index)
	case flowmesh.KindKV:
		r.kv, err = openKV(r.dir, m, f.cfg.Segment, index)
	default:
		err = fmt.Errorf("unknown kind %d", m.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("fsm: open %s %s: %w", flowmesh.Kind(m.Kind), r.path, err)
	}
	return r, nil
}

func (r *resource) close() error {
	switch {
	case r.stream != nil:
		return r.stream.close()
	case r.queue != nil:
		return r.queue.log.Close()
	case r.kv != nil:
		return r.kv.log.Close()
	}
	return nil
}

// logs returns the resource's segment logs and their directories relative to r.dir.
func (r *resource) logs() ([]*segment.Log, []string) {
	switch {
	case r.stream != nil:
		out := make([]*segment.Log, len(r.stream.parts))
		dirs := make([]string, len(r.stream.parts))
		for i, p := range r.stream.parts {
			out[i], dirs[i] = p.log, "p"+strconv.Itoa(i)
		}
		return out, dirs
	case r.queue != nil:
		return []*segment.Log{r.queue.log}, []string{"log"}
	case r.kv != nil:
		return []*segment.Log{r.kv.log}, []string{"log"}
	}
	return nil, nil
}

// AppliedIndex is the last raft index applied.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// LastStamp is the stamp of the last applied entry (unix nanoseconds).
func (f *FSM) LastStamp() int64 { return f.stamp.Load() }

// DurableIndex is the index up to which the local stores are on disk.
func (f *FSM) DurableIndex() uint64 { return f.durable.Load() }

// Changes returns a channel closed at the next applied change.
func (f *FSM) Changes() <-chan struct{} { return f.changes.wait() }

// Apply implements raft.FSM.
func (f *FSM) Apply(l *raft.Log) interface{} {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch implements raft.BatchingFSM. For a command entry it returns a
// []any with one *Result or error per command.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	if f.bugs.beforeApply != nil {
		f.bugs.beforeApply()
	}
	out := make([]interface{}, len(logs))
	f.mu.Lock()
	if f.failed != nil {
		for i, l := range logs {
			out[i] = fmt.Errorf("fsm: entry %d not applied: %w", l.Index, f.failed)
		}
		f.mu.Unlock()
		return out
	}
	changed := false
	last := f.applied.Load()
	fatal := func(index uint64, err error) []interface{} {
		f.dropPending()
		if errors.Is(err, errAborted) {
			f.aborted = true
			f.mu.Unlock()
			for i := range out {
				out[i] = abortedResult(index)
			}
			return out
		}
		err = fmt.Errorf("fsm: apply index %d: %w", index, err)
		f.failed = fmt.Errorf("%w: %w", errFailed, err)
		f.mu.Unlock()
		f.cfg.OnFatal(err)
		return out
	}
	for i, l := range logs {
		if l.Index <= f.guard || l.Index <= last {
			continue // already in the local stores (replay after restart)
		}
		if l.Type == raft.LogCommand {
			res, err := f.applyEntry(l)
			if err != nil {
				return fatal(l.Index, err)
			}
			out[i] = res
			changed = true
		}
		last = l.Index
	}
	// Records are written before the applied index passes their entries,
	// so a reader that waited for an index finds them.
	if err := f.writeStaged(last); err != nil {
		return fatal(last, err)
	}
	f.applied.Store(last)
	f.mu.Unlock()
	if changed {
		f.changes.signal()
	}
	return out
}

// stage queues records for l and returns the offset the first will get.
func (f *FSM) stage(l *segment.Log, recs ...segment.Record) uint64 {
	if f.pending == nil {
		f.pending = map[*segment.Log][]segment.Record{}
	}
	have, ok := f.pending[l]
	if !ok {
		f.pendingLogs = append(f.pendingLogs, l)
	}
	f.pending[l] = append(have, recs...)
	return l.NextOffset() + uint64(len(have))
}

// nextOffset is l's next offset counting staged records.
func (f *FSM) nextOffset(l *segment.Log) uint64 {
	return l.NextOffset() + uint64(len(f.pending[l]))
}

// writePending appends every staged batch, one AppendBatch per log. On an
// error the batches not written stay staged, so that calling it again
// (retryNoSpace) writes each batch once.
func (f *FSM) writePending() error {
	for i, l := range f.pendingLogs {
		if _, err := l.AppendBatch(f.pending[l]); err != nil {
			for _, done := range f.pendingLogs[:i] {
				delete(f.pending, done)
			}
			f.pendingLogs = append(f.pendingLogs[:0], f.pendingLogs[i:]...)
			return err
		}
	}
	f.dropPending()
	return nil
}

func (f *FSM) dropPending() {
	clear(f.pending)
	f.pendingLogs = f.pendingLogs[:0]
}

// errFailed refuses entries and checkpoints after a fatal error (FSM.failed).
var errFailed = errors.New("fsm: stopped after a fatal I/O error")

// fatalError marks an error that must stop the node.
type fatalError struct{ err error }

func (e fatalError) Error() string { return e.err.Error() }
func (e fatalError) Unwrap() error { return e.err }

func (f *FSM) applyEntry(l *raft.Log) ([]any, error) {
	e, err := logentry.Decode(l.Data)
	if err != nil {
		// Every replica sees the same bytes and skips them alike.
		f.log.Error("skipping undecodable log entry", "index", l.Index, "err", err)
		return nil, nil
	}
	if e.Stamp > f.stamp.Load() {
		f.stamp.Store(e.Stamp)
	}
	now := f.stamp.Load()
	f.dedup.expire(now)
	results := make([]any, len(e.Commands))
	// One message reused for every command of the entry: Unmarshal resets
	// it, and nothing keeps the Command itself (only what its fields point to).
	cmd := &fsmpb.Command{}
	for pos, raw := range e.Commands {
		if err := proto.Unmarshal(raw, cmd); err != nil {
			results[pos] = flowmesh.Invalid("command", "undecodable: %v", err)
			continue
		}
		if cmd.RequestId != "" {
			if r, ok := f.dedup.get(cmd.RequestId); ok {
				results[pos] = r
				continue
			}
		}
		ac := &applyCtx{f: f, index: l.Index, pos: pos, stamp: now}
		res, err := f.applyCommand(ac, cmd)
		if err != nil {
			if fe, ok := errors.AsType[fatalError](err); ok {
				return nil, fe.err
			}
			results[pos] = err
			continue
		}
		if cmd.RequestId != "" {
			f.dedup.put(cmd.RequestId, now, res)
		}
		results[pos] = res
	}
	return results, nil
}

// applyCtx is what a command may depend on: its place in the log and the stamp.
type applyCtx struct {
	f     *FSM
	index uint64
	pos   int
	stamp int64
}

func (f *FSM) applyCommand(ac *applyCtx, cmd *fsmpb.Command) (*Result, error) {
	switch op := cmd.Op.(type) {
	case *fsmpb.Command_CreateResource:
		return f.applyCreate(ac, op.CreateResource.GetResource())
	case *fsmpb.Command_DeleteResource:
		return f.applyDelete(ac, op.DeleteResource.Path)
	case *fsmpb.Command_WriteEvents:
		return f.applyWriteEvents(ac, op.WriteEvents)
	case *fsmpb.Command_CommitOffset:
		return f.applyCommitOffset(op.CommitOffset)
	case *fsmpb.Command_TrimPartition:
		return f.applyTrim(ac, op.TrimPartition)
	case *fsmpb.Command_Enqueue:
		return f.applyEnqueue(ac, op.Enqueue)
	case *fsmpb.Command_Reserve:
		return f.applyReserve(ac, op.Reserve)
	case *fsmpb.Command_Ack:
		return f.applyAck(ac, op.Ack)
	case *fsmpb.Command_Nack:
		return f.applyNack(ac, op.Nack)
	case *fsmpb.Command_Touch:
		return f.applyTouch(ac, op.Touch)
	case *fsmpb.Command_Purge:
		return f.applyPurge(ac, op.Purge)
	case *fsmpb.Command_Redrive:
		return f.applyRedrive(ac, op.Redrive)
	case *fsmpb.Command_EnqueueBatch:
		return f.applyEnqueueBatch(ac, op.EnqueueBatch)
	case *fsmpb.Command_ReserveBatch:
		return f.applyReserveBatch(ac, op.ReserveBatch)
	case *fsmpb.Command_AckBatch:
		return f.applyAckBatch(ac, op.AckBatch)
	case *fsmpb.Command_KvPut:
		return f.applyKVPut(ac, op.KvPut)
	case *fsmpb.Command_KvDelete:
		return f.applyKVDelete(ac, op.KvDelete)
	case *fsmpb.Command_KvExpire:
		return f.applyKVExpire(ac, op.KvExpire)
	case *fsmpb.Command_KvTrimHistory:
		return f.applyKVTrimHistory(ac, op.KvTrimHistory)
	case *fsmpb.Command_SetQuota:
		return f.applySetQuota(op.SetQuota)
	case *fsmpb.Command_Txn:
		return f.applyTxn(ac, op.Txn)
	case *fsmpb.Command_Noop:
		return &Result{}, nil
	}
	return nil, flowmesh.Invalid("command", "unknown op")
}

// lookup finds a resource of the given kind; callers hold mu.
func (f *FSM) lookup(path string, kind flowmesh.Kind) (*resource, error) {
	r := f.resources[path]
	if r == nil {
		return nil, fmt.Errorf("%w: %s %s", flowmesh.ErrNotFound, kind, path)
	}
	if flowmesh.Kind(r.meta.Kind) != kind {
		return nil, fmt.Errorf("%w: %s is a %s, not a %s", flowmesh.ErrWrongKind, path, flowmesh.Kind(r.meta.Kind), kind)
	}
	return r, nil
}

// Flush fsyncs every store and writes the checkpoint at the applied index.
// Applies and reads go on while it syncs: the checkpoint's small state is
// captured under the lock, and the logs then hold at least the entries up
// to its index (Open cuts them back to it).
func (f *FSM) Flush() error {
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return flowmesh.ErrStopped
	}
	if f.aborted {
		f.mu.Unlock()
		return errNoCheckpoint
	}
	if f.failed != nil {
		f.mu.Unlock()
		return f.failed
	}
	index := f.applied.Load()
	cp := f.checkpointLocked(index)
	var logs []*segment.Log
	for _, path := range f.sortedPaths() {
		ls, _ := f.resources[path].logs()
		logs = append(logs, ls...)
	}
	f.mu.Unlock()

	for _, l := range logs {
		// A log closed meanwhile belongs to a deleted resource; Close synced it.
		if err := l.Sync(); err != nil && !errors.Is(err, segment.ErrClosed) {
			return fmt.Errorf("fsm: sync: %w", err)
		}
	}
	if err := f.writeCheckpoint(cp); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	return f.afterCheckpointLocked(index)
}

// flushLocked is Flush with the lock held throughout (Snapshot and Close,
// which must not let an entry in between).
func (f *FSM) flushLocked() error {
	if f.closed {
		return flowmesh.ErrStopped
	}
	if f.aborted {
		return errNoCheckpoint
	}
	if f.failed != nil {
		return f.failed
	}
	index := f.applied.Load()
	for _, path := range f.sortedPaths() {
		logs, _ := f.resources[path].logs()
		for _, l := range logs {
			if err := l.Sync(); err != nil {
				return fmt.Errorf("fsm: sync %s: %w", path, err)
			}
		}
	}
	if err := f.writeCheckpoint(f.checkpointLocked(index)); err != nil {
		return err
	}
	return f.afterCheckpointLocked(index)
}

func (f *FSM) writeCheckpoint(cp *fsmpb.Checkpoint) error {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(cp)
	if err != nil {
		return fmt.Errorf("fsm: encode checkpoint: %w", err)
	}
	if err := vfs.WriteFile(f.cfg.FS, filepath.Join(f.cfg.Dir, checkpointFile), b); err != nil {
		return fmt.Errorf("fsm: write checkpoint: %w", err)
	}
	return nil
}

// afterCheckpointLocked runs once a checkpoint at index is on disk: it
// publishes the durable index, compacts logs when the stores hold exactly
// the entries up to index (no entry applied since), and empties the trash.
func (f *FSM) afterCheckpointLocked(index uint64) error {
	f.durable.Store(max(f.durable.Load(), index))
	if f.applied.Load() == index {
		if err := f.compactLocked(index, f.stamp.Load()); err != nil {
			return err
		}
	}
	kept := f.pendingTrash[:0]
	for _, t := range f.pendingTrash {
		if t.index <= index {
			if err := f.cfg.FS.RemoveAll(t.dir); err != nil {
				f.log.Warn("fsm: could not empty trash", "dir", t.dir, "err", err)
			}
			continue
		}
		kept = append(kept, t)
	}
	f.pendingTrash = kept
	return nil
}

func (f *FSM) checkpointLocked(index uint64) *fsmpb.Checkpoint {
	cp := &fsmpb.Checkpoint{Index: index, Stamp: f.stamp.Load(), NextResourceId: f.nextID, KvRevision: f.kvRev, UsageCounted: true}
	for _, path := range f.sortedPaths() {
		r := f.resources[path]
		cp.Resources = append(cp.Resources, r.meta)
		if r.stream != nil {
			for i, p := range r.stream.parts {
				if p.earliest > 0 || p.bytes > 0 {
					cp.Partitions = append(cp.Partitions, &fsmpb.PartitionState{Path: path, Partition: int32(i), Earliest: p.earliest, Bytes: p.bytes})
				}
			}
		}
	}
	for _, k := range f.sortedGroups() {
		cp.Groups = append(cp.Groups, &fsmpb.GroupOffset{Path: k.path, Group: k.group, Partition: k.partition, Offset: f.groups[k]})
	}
	for _, t := range f.sortedQuotaTenants() {
		cp.Quotas = append(cp.Quotas, &fsmpb.TenantQuota{Tenant: t, Limits: f.quotas[t]})
	}
	cp.Dedup = f.dedup.entries()
	return cp
}

func (f *FSM) sortedGroups() []groupKey {
	keys := make([]groupKey, 0, len(f.groups))
	for k := range f.groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.path != b.path {
			return a.path < b.path
		}
		if a.group != b.group {
			return a.group < b.group
		}
		return a.partition < b.partition
	})
	return keys
}

func (f *FSM) sortedPaths() []string {
	paths := make([]string, 0, len(f.resources))
	for p := range f.resources {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// Close flushes and closes every store. It is idempotent.
func (f *FSM) Close() error {
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	var err error
	switch {
	case f.aborted:
		f.log.Warn("fsm: closing without a checkpoint: an apply was given up while waiting for disk space; the next start replays the raft log from the last checkpoint")
	case f.failed != nil:
		err = f.failed
	default:
		err = f.flushLocked()
	}
	f.closeStores()
	f.closed = true
	f.changes.signal()
	return err
}

func (f *FSM) closeStores() {
	for _, r := range f.resources {
		if err := r.close(); err != nil {
			f.log.Warn("fsm: close store", "path", r.path, "err", err)
		}
	}
}

// broadcaster wakes every waiter on each signal.
type broadcaster struct {
	mu sync.Mutex
	ch chan struct{}
}

func newBroadcaster() *broadcaster { return &broadcaster{ch: make(chan struct{})} }

func (b *broadcaster) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

func (b *broadcaster) signal() {
	b.mu.Lock()
	close(b.ch)
	b.ch = make(chan struct{})
	b.mu.Unlock()
}

var _ io.Closer = (*FSM)(nil)
