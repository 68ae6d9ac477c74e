package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/flowmesh/flowmesh"
)

// FSM is what Cluster needs from the state machine.
type FSM interface {
	raft.BatchingFSM
	// AppliedIndex is the last raft index applied.
	AppliedIndex() uint64
	// LastStamp is the stamp of the last applied entry (unix nanos). A new
	// leader stamps at least LastStamp()+1.
	LastStamp() int64
	// DurableIndex is the raft index up to which the FSM's local state is on
	// disk. When it is at least the latest snapshot's index, raft starts
	// without restoring that snapshot and the FSM skips replayed entries.
	DurableIndex() uint64
}

var (
	// ErrNotLeader matches the *flowmesh.NotLeaderError that Apply and
	// ReadIndex return on a node that is not the leader.
	ErrNotLeader = flowmesh.ErrNotLeader
	// ErrShutdown is returned by calls on a Cluster that is shutting down.
	// It matches flowmesh.ErrStopped.
	ErrShutdown = fmt.Errorf("cluster: shut down: %w", flowmesh.ErrStopped)
	// ErrNoSpace is returned (wrapped with raft's error) by Apply when
	// the leader could not write the entry to its raft log for want of
	// space: the entry was not committed.
	ErrNoSpace = errors.New("cluster: no space left for the raft log")
)

const (
	raftDirName      = "raft"
	snapshotsDirName = "snapshots"
	transportPool    = 3
	transportTimeout = 10 * time.Second
)

// Cluster owns the raft node: its log and stable store (bbolt, boltstore.go), its
// snapshot store, its transport, group commit and the read barrier.
type Cluster struct {
	cfg    Config
	logger *slog.Logger
	fsm    *notifyingFSM

	raft       *raft.Raft
	transport  *fencedTransport
	raftBudget *raftBudget
	// probePeer, with peer TLS, completes a handshake with a raft address
	// and hangs up: reconcile adds or promotes only servers that pass it.
	probePeer func(addr string) error
	bolt      stableLogStore // bbolt unless Config.LogStore says otherwise
	logStore  *timedLogStore // bolt, timed for the watchdog
	logs      raft.LogStore  // logStore behind a cache; WaitApplied reads entry types
	snaps     *SnapshotStore

	applyCh   chan *applyRequest
	inflight  chan *inflightEntry
	slots     chan struct{} // one per entry in flight
	completed chan struct{} // pinged when an entry completes
	notifyCh  chan bool     // raft's leadership notifications

	leaders  leaderWatch
	reads    readBarrier
	mgr      manager
	hadState bool      // raft state existed when New opened it
	started  time.Time // when New started raft

	clusterID   atomic.Pointer[string] // see clusterid.go
	clusterIDMu sync.Mutex             // serialises setClusterID
	restoreMu   sync.Mutex             // one Restore at a time

	leaderLog leaderLog // the last leader changes (leaderlog.go)

	mu       sync.Mutex // guards closed and wg.Add
	closed   bool
	closing  chan struct{}  // closed when Shutdown begins
	raftDown chan struct{}  // closed once raft has shut down
	wg       sync.WaitGroup // goroutines that need raft running
	bgWG     sync.WaitGroup // the leadership watcher, stopped after raft
	shutOnce sync.Once
	shutErr  error
}

// New opens the raft state in cfg.DataDir/raft, starts the transport and
// raft, and bootstraps a single-voter cluster when cfg.Bootstrap is set and
// no raft state exists.
func New(cfg Config, fsm FSM) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if fsm == nil {
		return nil, errors.New("cluster: nil FSM")
	}
	c := &Cluster{
		cfg:       cfg,
		logger:    cfg.Logger.With("component", "cluster", "id", cfg.ID),
		fsm:       newNotifyingFSM(fsm),
		applyCh:   make(chan *applyRequest, cfg.BatchMaxCommands),
		inflight:  make(chan *inflightEntry, cfg.MaxInflightEntries),
		slots:     make(chan struct{}, cfg.MaxInflightEntries),
		completed: make(chan struct{}, 1),
		notifyCh:  make(chan bool, 16),
		closing:   make(chan struct{}),
		raftDown:  make(chan struct{}),
		started:   time.Now(),
	}
	if err := c.open(); err != nil {
		if c.raft != nil {
			_ = c.raft.Shutdown().Error()
		}
		c.closeStores()
		return nil, err
	}
	c.bgWG.Add(1)
	go c.watchLeadership()
	c.observeLeaders()
	c.goFunc(c.runBatcher)
	c.goFunc(c.runResponder)
	if cfg.FsyncStallTimeout > 0 {
		c.goFunc(c.runWatchdog)
	}
	return c, nil
}

// newTransport is raft's network transport over plain TCP, or with
// PeerServerTLS set over mutual TLS; both accept through the RaftLimits
// budget.
// logCacheEntries is how many recent raft entries are kept in memory in
// front of the log store. Entries are up to 512 KiB (group commit), so the
// cache holds up to 32 MiB; with 512 it held up to 256 MiB, and 3000 puts
// of 256 KiB to one key took the node to 730 MB of heap (test/abuse). One
// AppendEntries batch (MaxAppendEntries 64) fits; a follower further behind
// reads from the store.
const logCacheEntries = 64

func (c *Cluster) newTransport(advertise net.Addr) (*raft.NetworkTransport, error) {
	cfg := c.cfg
	hlog := newHCLog(cfg.Logger, "raft-net")
	ln, err := net.Listen("tcp", cfg.BindAddr)
	if err != nil {
		return nil, err
	}
	c.raftBudget = &raftBudget{lim: cfg.RaftLimits, log: c.logger.With("component", "raft-net")}
	bl := &budgetListener{Listener: ln, b: c.raftBudget}
	var stream raft.StreamLayer
	if cfg.PeerServerTLS == nil {
		stream, err = newTCPStreamLayer(bl, advertise)
	} else {
		stream, err = newTLSStreamLayer(bl, advertise, cfg.PeerServerTLS, cfg.PeerClientTLS, HandshakeTimeout, c.logger.With("component", "raft-tls"))
	}
	if err != nil {
		ln.Close()
		return nil, err
	}
	if cfg.PeerServerTLS != nil {
		c.probePeer = func(addr string) error {
			conn, err := stream.Dial(raft.ServerAddress(addr), HandshakeTimeout)
			if err != nil {
				return err
			}
			return conn.Close()
		}
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  &budgetStreamLayer{StreamLayer: stream, b: c.raftBudget},
		MaxPool: transportPool,
		Timeout: transportTimeout,
		Logger:  hlog,
	}), nil
}

// RaftTransportStats reports the raft transport budget's use.
func (c *Cluster) RaftTransportStats() RaftTransportStats {
	if c.raftBudget == nil {
		return RaftTransportStats{MaxConnections: c.cfg.RaftLimits.MaxConnections, MaxInflightBytes: c.cfg.RaftLimits.MaxInflightBytes}
	}
	return c.raftBudget.stats()
}

func (c *Cluster) open() error {
	cfg := c.cfg
	dir := filepath.Join(cfg.DataDir, raftDirName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	bolt, err := openLogStoreVFS(dir, cfg.LogStore, newWALVFS(), newHCLog(cfg.Logger, "raft-wal"))
	if err != nil {
		return err
	}
	c.bolt = bolt
	c.logStore = &timedLogStore{LogStore: bolt, stall: cfg.stallHook, onNoSpace: cfg.OnLogNoSpace}
	c.logStore.lastWrite.Store(time.Now().UnixNano())
	logs, err := raft.NewLogCache(logCacheEntries, c.logStore)
	if err != nil {
		return err
	}
	c.logs = logs
	snaps, err := NewSnapshotStore(filepath.Join(dir, snapshotsDirName), cfg.SnapshotRetain, cfg.Logger.With("component", "snapshots"))
	if err != nil {
		return err
	}
	c.snaps = snaps
	snaps.logs = logs
	snaps.clusterID = c.ClusterID
	snaps.durable = c.fsm.DurableIndex
	if ch, ok := c.fsm.FSM.(SnapshotChecker); ok {
		snaps.check = ch.CheckSnapshot
	}
	_ = os.RemoveAll(filepath.Join(dir, restoreDirName))
	c.fsm.latestSnapshot = func() uint64 {
		if metas, err := snaps.List(); err == nil && len(metas) > 0 {
			return metas[0].Index
		}
		return 0
	}

	var advertise net.Addr
	if cfg.AdvertiseAddr != "" {
		if advertise, err = net.ResolveTCPAddr("tcp", cfg.AdvertiseAddr); err != nil {
			return fmt.Errorf("cluster: AdvertiseAddr: %w", err)
		}
	}
	trans, err := c.newTransport(advertise)
	if err != nil {
		return fmt.Errorf("cluster: raft transport: %w", err)
	}
	c.transport = &fencedTransport{NetworkTransport: trans}

	rc, err := c.raftConfig()
	if err != nil {
		return err
	}
	existing, err := raft.HasExistingState(logs, bolt, snaps)
	if err != nil {
		return err
	}
	r, err := raft.NewRaft(rc, c.fsm, logs, bolt, snaps, c.transport)
	if err != nil {
		return fmt.Errorf("cluster: start raft: %w", err)
	}
	c.raft = r
	c.hadState = existing
	id, err := loadClusterID(dir)
	if err != nil {
		return err
	}
	if id != "" {
		c.clusterID.Store(&id)
	}
	if cfg.Bootstrap && !existing {
		if err := c.BootstrapServers([]Server{{ID: cfg.ID, Address: string(trans.LocalAddr()), Voter: true}}); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return fmt.Errorf("cluster: bootstrap: %w", err)
		}
	}
	return nil
}

func (c *Cluster) raftConfig() (*raft.Config, error) {
	cfg := c.cfg
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.MaxAppendEntries = cfg.MaxAppendEntries
	rc.BatchApplyCh = true
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.NotifyCh = c.notifyCh
	rc.Logger = newHCLog(cfg.Logger, "raft")

	// Skip restoring the latest snapshot only when the FSM's own files
	// already hold everything up to it; raft then replays the log after the
	// snapshot and the FSM skips what it already has.
	metas, err := c.snaps.List()
	if err != nil {
		return nil, err
	}
	if len(metas) > 0 && c.fsm.DurableIndex() >= metas[0].Index {
		rc.NoSnapshotRestoreOnStart = true
	}
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return rc, nil
}

// goFunc runs f in a goroutine that Shutdown waits for before it stops raft.
// It refuses once Shutdown has begun.
func (c *Cluster) goFunc(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// Shutdown stops group commit (queued callers get ErrShutdown, proposed
// entries are answered), then raft, then closes the transport and stores.
// It is idempotent and returns the first call's result.
func (c *Cluster) Shutdown() error {
	c.shutOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		close(c.closing)
		c.mu.Unlock()
		// Raft keeps running until our goroutines have drained: futures
		// still queued inside raft when it stops are never answered.
		c.wg.Wait()
		var errs []error
		if err := c.raft.Shutdown().Error(); err != nil {
			errs = append(errs, err)
		}
		close(c.raftDown)
		c.bgWG.Wait()
		errs = append(errs, c.closeStores())
		c.shutErr = errors.Join(errs...)
	})
	return c.shutErr
}

func (c *Cluster) closeStores() error {
	var errs []error
	if c.transport != nil {
		errs = append(errs, c.transport.Close())
	}
	if c.bolt != nil {
		errs = append(errs, c.bolt.Close())
	}
	return errors.Join(errs...)
}

// Raft is the underlying raft node, for tests and membership changes.
func (c *Cluster) Raft() *raft.Raft { return c.raft }

// IsLeader reports whether this node is the raft leader now.
func (c *Cluster) IsLeader() bool { return c.raft.State() == raft.Leader }

// Leader returns the current leader's server ID and raft address, empty when
// none is known.
func (c *Cluster) Leader() (id, raftAddr string) {
	addr, sid := c.raft.LeaderWithID()
	return string(sid), string(addr)
}

// notLeader builds the error for a caller on a node that is not the leader.
// LeaderAddr is the leader's gRPC address from Config.GRPCAddrOf ("" when
// that does not know it), or its raft address when GRPCAddrOf is nil.
func (c *Cluster) notLeader() error {
	id, addr := c.Leader()
	if c.cfg.GRPCAddrOf != nil {
		addr = ""
		if id != "" {
			addr = c.cfg.GRPCAddrOf(id)
		}
	}
	return &flowmesh.NotLeaderError{LeaderID: id, LeaderAddr: addr}
}

// WaitLeader blocks until some node is the leader (or ctx ends). When this
// node is the leader it also waits until the leader is ready: its FSM has
// applied every entry committed before its term (after a restart, the log
// tail replay), so local state is current once WaitLeader returns.
func (c *Cluster) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		id, _ := c.Leader()
		if id != "" && id != c.cfg.ID {
			return nil
		}
		if id == c.cfg.ID {
			err := c.wait(ctx, c.leaderReady(c.raft.CurrentTerm()))
			if err == nil || !errors.Is(err, ErrNotLeader) {
				return err
			}
			// Lost leadership meanwhile: look again.
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.closing:
			return ErrShutdown
		case <-t.C:
		}
	}
}

// Snapshot takes a snapshot now; raft then compacts its log down to
// TrailingLogs entries. With nothing applied since the last snapshot it
// returns raft.ErrNothingNewToSnapshot.
func (c *Cluster) Snapshot() error {
	return translate(c.raft.Snapshot().Error())
}

// SnapshotNow takes a fresh snapshot on the leader for an operator's
// backup, once this node knows its cluster ID (waiting for it up to ctx:
// a server added after bootstrap learns it from gossip), so the snapshot
// names its cluster and restores here without being forced. A barrier
// first makes sure there is something new to snapshot, so the result is
// never an older snapshot sealed before the ID was known.
func (c *Cluster) SnapshotNow(ctx context.Context) error {
	for c.ClusterID() == "" {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: this node does not know its cluster ID yet; retry", flowmesh.ErrNoLeader)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := translate(c.raft.Barrier(timeoutOf(ctx)).Error()); err != nil {
		return err
	}
	return c.Snapshot()
}

// translate maps raft's errors to this package's.
func translate(err error) error {
	if errors.Is(err, raft.ErrRaftShutdown) {
		return ErrShutdown
	}
	return err
}

// Stats returns the node's status.
func (c *Cluster) Stats() Status {
	// Trailing no-ops and barriers never reach the FSM; AppliedIndex
	// counts them once raft has dispatched them, as WaitApplied does.
	applied := c.AppliedIndex()
	st := Status{
		ID:           c.cfg.ID,
		State:        stateName(c.raft.State()),
		Term:         c.raft.CurrentTerm(),
		CommitIndex:  c.raft.CommitIndex(),
		AppliedIndex: applied,
		LastLogIndex: c.raft.LastIndex(),
		ClusterID:    c.ClusterID(),
	}
	st.LeaderID, st.LeaderAddr = c.Leader()
	st.LastSnapshotIndex, _ = strconv.ParseUint(c.raft.Stats()["last_snapshot_index"], 10, 64)
	if f := c.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			st.Servers = append(st.Servers, Server{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter})
		}
	}
	return st
}

func stateName(s raft.RaftState) string {
	switch s {
	case raft.Leader:
		return "leader"
	case raft.Follower:
		return "follower"
	case raft.Candidate:
		return "candidate"
	}
	return "shutdown"
}

// FirstLogIndex is the oldest entry still in the raft log; it grows when a
// snapshot compacts the log.
func (c *Cluster) FirstLogIndex() (uint64, error) { return c.logs.FirstIndex() }
