package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/cluster"
	"github.com/flowmesh/flowmesh/fsm"
	"github.com/flowmesh/flowmesh/segment"
)

// Storage is an embedded FlowMesh node.
type Storage struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	state   int // stateNew, stateRunning, stateStopped
	live    atomic.Bool
	fsm     *fsm.FSM
	cluster *cluster.Cluster
	members atomic.Pointer[cluster.Membership] // nil without Gossip.BindAddr
	stop    chan struct{}
	wg      sync.WaitGroup

	removeSelf removeSelfHook
	bugs       bugs               // deliberate bugs of the flowmesh_faults build (bugs.go)
	files      *segment.FileCache // descriptors of every segment file
	lock       *dirLock           // the data dir's, held while running
	disk       atomic.Pointer[diskState]
}

const (
	stateNew = iota
	stateRunning
	stateStopped
)

// NewWithConfig returns a node for cfg (copied). Call Start.
func NewWithConfig(cfg *Config) (*Storage, error) {
	if cfg == nil {
		cfg = DefaultConfig()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Storage{cfg: cfg.withDefaults(), bugs: loadBugs()}
	s.files = segment.NewFileCache(s.cfg.MaxOpenSegmentFiles)
	s.log = s.cfg.Logger.With("component", "storage")
	return s, nil
}

// Config returns the node's effective configuration.
func (s *Storage) Config() Config { return s.cfg }

// Start opens the stores, starts Raft and waits until the node has a leader
// (or ctx ends).
func (s *Storage) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateRunning:
		return nil
	case stateStopped:
		return flowmesh.ErrStopped
	}
	if err := os.MkdirAll(s.cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	lock, err := lockDataDir(s.cfg.DataDir)
	if err != nil {
		return err
	}
	defer func() {
		if s.state != stateRunning {
			lock.release()
		}
	}()
	if err := s.checkFresh(); err != nil {
		return err
	}
	id, err := s.nodeID()
	if err != nil {
		return err
	}
	// The alarm holds from the first write on; below the critical floor
	// the ballast is released before the stores open.
	s.checkDisk(id, nil)
	fcfg := fsm.DefaultConfig(filepath.Join(s.cfg.DataDir, "fsm"))
	fcfg.Segment.Options = s.cfg.Segment
	fcfg.Segment.Files = s.files
	s.log.Info("segment files", "max_open", s.files.Stats().MaxOpen, "rlimit_nofile", segment.FileLimit())
	fcfg.Logger = s.cfg.Logger
	fcfg.OnNoSpace = func(error) { s.noSpace(id) }
	f, err := fsm.Open(fcfg)
	if err != nil {
		return err
	}
	ccfg := cluster.Config{
		ID:            id,
		DataDir:       s.cfg.DataDir,
		BindAddr:      s.cfg.RaftAddr,
		AdvertiseAddr: s.raftAdvertise(),
		Bootstrap:     s.bootstrapAlone(),
		Options:       s.cfg.Raft,
		OnLogNoSpace:  func() { s.noSpace(id) },
		Clock:         s.cfg.Clock,
		Logger:        s.cfg.Logger,
	}
	if s.cfg.Gossip.BindAddr != "" {
		ccfg.GRPCAddrOf = s.grpcAddrOf
	}
	c, err := cluster.New(ccfg, f)
	if err != nil {
		f.Close()
		return err
	}
	s.fsm, s.cluster = f, c
	if s.cfg.Gossip.BindAddr != "" {
		m, err := s.startMembership(id, c)
		if err != nil {
			_ = c.Shutdown()
			f.Close()
			return err
		}
		s.members.Store(m)
	}
	s.stop = make(chan struct{})
	s.state = stateRunning
	s.lock = lock
	s.live.Store(true)
	s.goFunc(s.flushLoop)
	s.goFunc(func() { s.diskLoop(id) })
	s.goFunc(s.leaderLoop)
	if ccfg.Bootstrap {
		if err := c.WaitLeader(ctx); err != nil {
			full := s.DiskAlarm()
			s.stopLocked()
			if full != nil {
				return fmt.Errorf("storage: waiting for a leader: %w (the raft log may not be writable: %v)", err, full)
			}
			return fmt.Errorf("storage: waiting for a leader: %w", err)
		}
	}
	s.log.Info("node started", "id", id, "data_dir", s.cfg.DataDir, "applied_index", f.AppliedIndex())
	return nil
}

// nodeID returns the configured ID or the one kept in the data dir.
func (s *Storage) nodeID() (string, error) {
	if s.cfg.NodeID != "" {
		return s.cfg.NodeID, nil
	}
	p := filepath.Join(s.cfg.DataDir, "node-id")
	b, err := os.ReadFile(p)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("storage: read node id: %w", err)
	}
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	id := "node-" + hex.EncodeToString(r[:])
	if err := os.WriteFile(p, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("storage: write node id: %w", err)
	}
	return id, nil
}

// goFunc runs fn in a goroutine that Stop waits for.
func (s *Storage) goFunc(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

// Stop shuts the node down in order: background loops, Raft, then the FSM
// (flushed). It is idempotent. It returns when that is done or when ctx
// ends, whichever comes first: Raft waits for its replication calls, and
// one sent to a peer that stopped answering (paused, partitioned) holds it
// until the transport's 10 s timeout. When ctx ends first, Stop returns an
// error wrapping ctx's and the shutdown finishes in the background; every
// acknowledged write is in the raft log already, so a process may exit
// then (the next start replays the log above the last checkpoint).
func (s *Storage) Stop(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		done <- s.stopLocked()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		s.log.Warn("stop did not finish in time; raft and the stores are still shutting down", "err", ctx.Err())
		return fmt.Errorf("storage: stop: %w (still shutting down in the background)", ctx.Err())
	}
}

func (s *Storage) stopLocked() error {
	if s.state != stateRunning {
		s.state = stateStopped
		return nil
	}
	s.state = stateStopped
	s.live.Store(false)
	close(s.stop)
	s.fsm.Abort() // an Apply waiting for disk space must not hold raft's shutdown
	s.wg.Wait()
	var errs []error
	if err := s.cluster.Shutdown(); err != nil {
		errs = append(errs, err)
	}
	if m := s.members.Load(); m != nil {
		if err := m.Shutdown(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.fsm.Close(); err != nil {
		errs = append(errs, err)
	}
	s.lock.release()
	s.log.Info("node stopped")
	return errors.Join(errs...)
}

// running returns the FSM and cluster, or ErrStopped. It is on every
// call's path, so it reads an atomic flag instead of taking s.mu: fsm and
// cluster are set before live turns true and stay set after it turns false.
func (s *Storage) running() (*fsm.FSM, *cluster.Cluster, error) {
	if !s.live.Load() {
		return nil, nil, flowmesh.ErrStopped
	}
	return s.fsm, s.cluster, nil
}

// SegmentFiles reports the segment files the node holds open and its
// budget (Config.MaxOpenSegmentFiles), for metrics and status.
func (s *Storage) SegmentFiles() segment.FileStats { return s.files.Stats() }

// Snapshot takes a raft snapshot now and compacts the log.
func (s *Storage) Snapshot(ctx context.Context) error {
	_, c, err := s.running()
	if err != nil {
		return err
	}
	return c.Snapshot()
}

// StateHash is a digest of the node's logical state (see fsm.StateHash).
func (s *Storage) StateHash() (string, error) {
	f, _, err := s.running()
	if err != nil {
		return "", err
	}
	return f.StateHash()
}

// StateHashIndex is StateHash with the applied index it covers.
func (s *Storage) StateHashIndex() (string, uint64, error) {
	f, _, err := s.running()
	if err != nil {
		return "", 0, err
	}
	return f.StateHashIndex()
}

// Status describes the node's raft state.
func (s *Storage) Status() (cluster.Status, error) {
	_, c, err := s.running()
	if err != nil {
		return cluster.Status{}, err
	}
	return c.Stats(), nil
}

// Cluster returns the node's raft wrapper (for the server and tests).
func (s *Storage) Cluster() *cluster.Cluster {
	_, c, _ := s.running()
	return c
}

// TransportStats reports the raft and gossip transport budgets' use;
// ok is false while the node is not running, gossip's part is zero
// without gossip.
func (s *Storage) TransportStats() (raftStats cluster.RaftTransportStats, gossip cluster.GossipStats, ok bool) {
	_, c, err := s.running()
	if err != nil {
		return raftStats, gossip, false
	}
	if m := s.members.Load(); m != nil {
		gossip = m.GossipStats()
	}
	return c.RaftTransportStats(), gossip, true
}

func (s *Storage) now() time.Time { return s.cfg.Clock() }
