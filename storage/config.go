package storage

import (
	"crypto/tls"

	"errors"
	"fmt"
	"github.com/flowmesh/flowmesh"
	"log/slog"
	"time"

	"github.com/flowmesh/flowmesh/cluster"
)

// Config configures a node. Zero fields take DefaultConfig's values, so a
// partly filled Config (as in the founding examples) works.
type Config struct {
	DataDir        string
	SegmentMaxSize int64         // roll stream segments at this size
	SegmentMaxAge  time.Duration // and at this age (by stamped time)
	FlushInterval  time.Duration // how often the FSM's stores are fsynced and checkpointed
	// MaxOpenSegmentFiles bounds the descriptors the node's segment files
	// hold (segment.FileCache): files are opened on use and the least
	// recently used idle ones closed, so streams, partitions, queues and KV
	// stores are not bounded by RLIMIT_NOFILE. 0 = half the process's
	// RLIMIT_NOFILE (segment.DefaultMaxOpenFiles).
	MaxOpenSegmentFiles int

	// NodeID is the stable raft server ID; when empty it is generated once and
	// kept in DataDir/node-id.
	NodeID string
	// RaftAddr is the raft transport's bind address (default 127.0.0.1:0 for an
	// embedded single node).
	RaftAddr string
	// Bootstrap forms a single-voter cluster when there is no raft state.
	// Embedded nodes bootstrap; cluster members leave it off and are joined.
	Bootstrap *bool

	// RaftLogStore is raft's log store: "wal" (raft-wal: one fsync per
	// commit instead of two) or "boltdb". "" (the default) opens the store
	// the data dir holds, and "wal" in a new one (cluster.Config.LogStore).
	RaftLogStore string

	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	// SnapshotRestoreMaxBytes bounds an uploaded snapshot, which a restore
	// stages on disk and verifies before raft sees it (it briefly needs
	// about three times that space: the upload, raft's copy and the FSM's);
	// 0 keeps cluster.DefaultSnapshotRestoreMaxBytes (64 GiB).
	SnapshotRestoreMaxBytes int64
	// HeartbeatTimeout and ElectionTimeout tune raft; zero keeps cluster's defaults.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration

	// Cluster membership (see cluster.Membership). GossipAddr "" runs no
	// gossip: an embedded single node, as Bootstrap decides.
	GRPCAddr      string   // this node's advertised gRPC address (put in gossip metadata)
	GossipAddr    string   // memberlist bind host:port
	AdvertiseAddr string   // host (or host:port for gossip) advertised when binding 0.0.0.0
	Join          []string // gossip addresses to join, retried in the background
	// BootstrapExpect > 1 forms a cluster once that many fresh servers with
	// the same value see each other (Bootstrap is then ignored); 0 keeps the
	// Bootstrap behaviour and 1 bootstraps alone.
	BootstrapExpect int
	GossipKey       []byte // 16, 24 or 32 bytes: encrypt gossip
	// PeerServerTLS and PeerClientTLS run raft over mutual TLS (see
	// cluster.Config). With gossip on they need a GossipKey: memberlist
	// encrypts its packets and streams with it, so the key is what keeps a
	// host without it out of membership.
	PeerServerTLS *tls.Config
	PeerClientTLS *tls.Config
	// RaftLimits bounds inbound raft connections (see cluster.RaftLimits);
	// zero fields keep cluster's defaults.
	RaftLimits cluster.RaftLimits
	// GossipMaxStreams and GossipMaxStreamBytes bound inbound gossip
	// streams (see cluster.MembershipConfig); 0 keeps cluster's defaults.
	GossipMaxStreams     int
	GossipMaxStreamBytes int64
	// DeadServerCleanup lets the leader remove dead servers from the raft
	// configuration (never below a quorum of it); off, only RemovePeer does.
	DeadServerCleanup bool
	// FsyncStallTimeout: a leader whose raft log write takes longer steps
	// down. Default 5s; negative disables the watchdog.
	FsyncStallTimeout time.Duration
	// Version is gossiped to other members.
	Version string

	// DefaultQuota holds the cluster default quota's fields this node
	// proposes when it becomes leader (nil fields are left as they are).
	// Apply never reads it: the default lives in the replicated state, so
	// every replica enforces the same one. Give every node the same values.
	// Its MemoryBytes is the cluster-wide memory quota (unset in the
	// replicated state: flowmesh.DefaultMemoryQuota).
	DefaultQuota flowmesh.QuotaLimits

	// DiskReserveBytes is the free space kept on the filesystem holding
	// DataDir: below it the node raises its disk alarm and the cluster
	// refuses writes that grow the data (see doc.go, "Disk full"). 0 =
	// the smaller of DefaultDiskReserveBytes and DefaultDiskReservePercent
	// of the filesystem; negative = no reserve (the alarm never rises).
	DiskReserveBytes int64
	// DiskBallastBytes is the size of the ballast (two files of half of
	// it in DataDir) the node keeps to release when its filesystem is
	// nearly full, so that it can still apply committed entries and start
	// (see doc.go, "Disk full"). 0 = a quarter of the reserve, at most
	// DefaultDiskBallastMaxBytes; negative = no ballast.
	DiskBallastBytes int64
	// DiskCheckInterval is how often the free space is read (default
	// DefaultDiskCheckInterval).
	DiskCheckInterval time.Duration

	ExpiryInterval time.Duration // how often the leader looks for expired KV keys
	// RetentionInterval is how often the leader applies stream retention
	// and ages out KV history.
	RetentionInterval time.Duration
	// KVHistoryMaxAge is how long a KV store keeps a change in its Watch
	// history: the leader proposes a trim of older changes (fsm
	// KVTrimHistory), so a deleted key's values leave memory on every
	// replica even when no newer change pushes them out. A watch from a
	// trimmed revision gets flowmesh.ErrCompacted. 0 =
	// flowmesh.DefaultKVHistoryMaxAge (1 h); negative = no time bound (the
	// count and byte bounds still hold). Only the leader's value matters.
	KVHistoryMaxAge time.Duration

	// Clock is the leader's stamping clock and the read clock for delays, TTLs
	// and stats. Tests inject a controllable one; default time.Now.
	Clock  func() time.Time
	Logger *slog.Logger
}

// DefaultConfig returns the defaults with DataDir "./data".
func DefaultConfig() *Config {
	t := true
	return &Config{
		DataDir:           "./data",
		SegmentMaxSize:    64 << 20,
		SegmentMaxAge:     24 * time.Hour,
		FlushInterval:     5 * time.Second,
		RaftAddr:          "127.0.0.1:0",
		Bootstrap:         &t,
		SnapshotThreshold: 16384,
		SnapshotInterval:  30 * time.Second,
		ExpiryInterval:    200 * time.Millisecond,
		RetentionInterval: 5 * time.Second,
		KVHistoryMaxAge:   flowmesh.DefaultKVHistoryMaxAge,
		FsyncStallTimeout: 5 * time.Second,
		Clock:             time.Now,
	}
}

// withDefaults returns a copy of c with zero fields filled in.
func (c *Config) withDefaults() Config {
	d := DefaultConfig()
	out := *c
	if out.DataDir == "" {
		out.DataDir = d.DataDir
	}
	if out.SegmentMaxSize == 0 {
		out.SegmentMaxSize = d.SegmentMaxSize
	}
	if out.SegmentMaxAge == 0 {
		out.SegmentMaxAge = d.SegmentMaxAge
	}
	if out.FlushInterval == 0 {
		out.FlushInterval = d.FlushInterval
	}
	if out.DiskCheckInterval <= 0 {
		out.DiskCheckInterval = DefaultDiskCheckInterval
	}
	if out.RaftAddr == "" {
		out.RaftAddr = d.RaftAddr
	}
	if out.Bootstrap == nil {
		out.Bootstrap = d.Bootstrap
	}
	if out.SnapshotThreshold == 0 {
		out.SnapshotThreshold = d.SnapshotThreshold
	}
	if out.SnapshotInterval == 0 {
		out.SnapshotInterval = d.SnapshotInterval
	}
	if out.ExpiryInterval == 0 {
		out.ExpiryInterval = d.ExpiryInterval
	}
	if out.RetentionInterval == 0 {
		out.RetentionInterval = d.RetentionInterval
	}
	if out.KVHistoryMaxAge == 0 {
		out.KVHistoryMaxAge = d.KVHistoryMaxAge
	}
	if out.FsyncStallTimeout == 0 {
		out.FsyncStallTimeout = d.FsyncStallTimeout
	}
	if out.Clock == nil {
		out.Clock = d.Clock
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	return out
}

// Validate reports every problem with c (after defaults are applied).
func (c *Config) Validate() error {
	v := c.withDefaults()
	var errs []error
	if v.SegmentMaxSize < 4<<10 {
		errs = append(errs, fmt.Errorf("storage: SegmentMaxSize %d is below 4 KiB", v.SegmentMaxSize))
	}
	if v.SegmentMaxAge < 0 {
		errs = append(errs, errors.New("storage: SegmentMaxAge is negative"))
	}
	if v.MaxOpenSegmentFiles < 0 {
		errs = append(errs, fmt.Errorf("storage: MaxOpenSegmentFiles %d is negative", v.MaxOpenSegmentFiles))
	}
	if v.FlushInterval < 0 {
		errs = append(errs, errors.New("storage: FlushInterval is negative"))
	}
	if v.SnapshotInterval < 0 {
		errs = append(errs, errors.New("storage: SnapshotInterval is negative"))
	}
	if v.SnapshotRestoreMaxBytes < 0 {
		errs = append(errs, errors.New("storage: SnapshotRestoreMaxBytes is negative"))
	}
	if v.ExpiryInterval < 0 || v.RetentionInterval < 0 {
		errs = append(errs, errors.New("storage: ExpiryInterval and RetentionInterval must not be negative"))
	}
	if v.BootstrapExpect < 0 {
		errs = append(errs, fmt.Errorf("storage: BootstrapExpect %d is negative", v.BootstrapExpect))
	}
	if v.GossipAddr == "" && (len(v.Join) > 0 || v.BootstrapExpect > 1 || len(v.GossipKey) > 0) {
		errs = append(errs, errors.New("storage: Join, BootstrapExpect > 1 and GossipKey need a GossipAddr"))
	}
	if n := len(v.GossipKey); n != 0 && n != 16 && n != 24 && n != 32 {
		errs = append(errs, fmt.Errorf("storage: GossipKey is %d bytes, want 16, 24 or 32", n))
	}
	if (v.PeerServerTLS == nil) != (v.PeerClientTLS == nil) {
		errs = append(errs, errors.New("storage: PeerServerTLS and PeerClientTLS go together"))
	}
	if v.PeerServerTLS != nil && v.GossipAddr != "" && len(v.GossipKey) == 0 {
		errs = append(errs, errors.New("storage: peer TLS with gossip needs a GossipKey (memberlist is not under TLS; the key is what keeps other hosts out of gossip)"))
	}
	if len(v.NodeID) > 64 {
		errs = append(errs, fmt.Errorf("storage: NodeID is %d bytes, limit 64", len(v.NodeID)))
	}
	return errors.Join(errs...)
}

// Builder is a fluent layer over Config; it holds no logic of its own.
type Builder struct {
	cfg Config
}

// NewBuilder starts from DefaultConfig.
func NewBuilder() *Builder { return &Builder{cfg: *DefaultConfig()} }

// WithDataDir sets the data directory.
func (b *Builder) WithDataDir(dir string) *Builder { b.cfg.DataDir = dir; return b }

// WithConfig replaces the configuration, keeping a data directory set before.
func (b *Builder) WithConfig(c *Config) *Builder {
	dir := b.cfg.DataDir
	b.cfg = *c
	if b.cfg.DataDir == "" || b.cfg.DataDir == DefaultConfig().DataDir {
		if dir != "" {
			b.cfg.DataDir = dir
		}
	}
	return b
}

// WithLogger sets the logger.
func (b *Builder) WithLogger(l *slog.Logger) *Builder { b.cfg.Logger = l; return b }

// Build returns a node that is not started.
func (b *Builder) Build() (*Storage, error) { return NewWithConfig(&b.cfg) }
