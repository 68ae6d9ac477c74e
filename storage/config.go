package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/cluster"
	"github.com/flowmesh/flowmesh/segment"
)

// Config configures a node. Zero fields take the defaults (EnsureDefaults),
// so a partly filled Config (as in the founding examples) works.
//
// The node's own settings sit at the top level; the settings of the
// packages it is built from are nested, each package owning its defaults
// and checks (pebble's Options with sub-options): Segment (segment.Options:
// how segment files roll), Raft (cluster.Options: raft timing, snapshots,
// the log store, peer TLS, transport budgets) and Gossip
// (cluster.GossipOptions: memberlist, joining, bootstrap-expect).
type Config struct {
	DataDir string
	// SegmentMaxSize and SegmentMaxAge are the founding document's
	// shortcuts for Segment.SegmentMaxSize and Segment.SegmentMaxAge: when
	// non-zero they win over the nested fields, into which EnsureDefaults
	// folds them (leaving the shortcuts zero).
	SegmentMaxSize int64
	SegmentMaxAge  time.Duration
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
	// GRPCAddr is this node's advertised gRPC address (in gossip metadata
	// and NotLeader answers).
	GRPCAddr string
	// AdvertiseAddr is the host (or host:port for gossip) advertised for
	// raft and gossip when they bind 0.0.0.0.
	AdvertiseAddr string
	// Version is gossiped to other members.
	Version string

	// Segment: how the FSM's segment files roll and are indexed.
	Segment segment.Options
	// Raft: raft timing, snapshots, the log store (Raft.LogStore: "" opens
	// the store the data dir holds, cluster.DefaultLogStore in a new one),
	// peer TLS (with gossip on it needs a Gossip.SecretKey: memberlist
	// encrypts its packets and streams with it, so the key is what keeps a
	// host without it out of membership) and the raft transport's budgets.
	Raft cluster.Options
	// Gossip: cluster membership (see cluster.Membership). Gossip.BindAddr
	// "" runs no gossip: an embedded single node, as Bootstrap decides.
	// Gossip.BootstrapExpect > 1 forms a cluster once that many fresh
	// servers with the same value see each other (Bootstrap is then
	// ignored); 0 keeps the Bootstrap behaviour and 1 bootstraps alone.
	Gossip cluster.GossipOptions

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

// DefaultConfig returns the defaults with DataDir "./data", the nested
// options holding their packages' defaults.
func DefaultConfig() *Config {
	t := true
	return &Config{
		DataDir:           "./data",
		FlushInterval:     5 * time.Second,
		RaftAddr:          "127.0.0.1:0",
		Bootstrap:         &t,
		Segment:           segment.DefaultOptions(),
		Raft:              cluster.DefaultOptions(),
		Gossip:            cluster.DefaultGossipOptions(),
		DiskCheckInterval: DefaultDiskCheckInterval,
		ExpiryInterval:    200 * time.Millisecond,
		RetentionInterval: 5 * time.Second,
		KVHistoryMaxAge:   flowmesh.DefaultKVHistoryMaxAge,
		Clock:             time.Now,
	}
}

// EnsureDefaults fills c's zero fields: the node's own from DefaultConfig,
// the nested options by their packages' EnsureDefaults, after folding the
// founding shortcuts (SegmentMaxSize, SegmentMaxAge) into Segment. It
// returns c.
func (c *Config) EnsureDefaults() *Config {
	if c.SegmentMaxSize != 0 {
		c.Segment.SegmentMaxSize, c.SegmentMaxSize = c.SegmentMaxSize, 0
	}
	if c.SegmentMaxAge != 0 {
		c.Segment.SegmentMaxAge, c.SegmentMaxAge = c.SegmentMaxAge, 0
	}
	c.Segment.EnsureDefaults()
	c.Raft.EnsureDefaults()
	c.Gossip.EnsureDefaults()

	d := DefaultConfig()
	if c.DataDir == "" {
		c.DataDir = d.DataDir
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = d.FlushInterval
	}
	if c.DiskCheckInterval <= 0 {
		c.DiskCheckInterval = d.DiskCheckInterval
	}
	if c.RaftAddr == "" {
		c.RaftAddr = d.RaftAddr
	}
	if c.Bootstrap == nil {
		c.Bootstrap = d.Bootstrap
	}
	if c.ExpiryInterval == 0 {
		c.ExpiryInterval = d.ExpiryInterval
	}
	if c.RetentionInterval == 0 {
		c.RetentionInterval = d.RetentionInterval
	}
	if c.KVHistoryMaxAge == 0 {
		c.KVHistoryMaxAge = d.KVHistoryMaxAge
	}
	if c.Clock == nil {
		c.Clock = d.Clock
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// withDefaults returns a copy of c with its defaults filled in.
func (c *Config) withDefaults() Config {
	out := *c
	return *out.EnsureDefaults()
}

// minSegmentMaxSize is the node's floor for a segment's size: smaller
// ones would make a file (and a descriptor) per handful of records.
const minSegmentMaxSize = 4 << 10

// Validate reports every problem with c (after defaults are applied),
// naming each bad field by its path in Config (Raft.HeartbeatTimeout).
func (c *Config) Validate() error {
	v := c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("storage: "+format, args...)) }
	nested := func(field string, err error) {
		if err == nil {
			return
		}
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			errs = append(errs, fmt.Errorf("storage: Config.%s: %w", field, e))
		}
	}
	if v.Segment.SegmentMaxSize < minSegmentMaxSize {
		field := "Segment.SegmentMaxSize"
		if c.SegmentMaxSize != 0 {
			field = "SegmentMaxSize"
		}
		bad("%s %d is below 4 KiB", field, v.Segment.SegmentMaxSize)
	}
	nested("Segment", v.Segment.Validate())
	nested("Raft", v.Raft.Validate())
	nested("Gossip", v.Gossip.Validate())
	if v.MaxOpenSegmentFiles < 0 {
		bad("MaxOpenSegmentFiles %d is negative", v.MaxOpenSegmentFiles)
	}
	if v.FlushInterval < 0 {
		bad("FlushInterval %v is negative", v.FlushInterval)
	}
	if v.ExpiryInterval < 0 || v.RetentionInterval < 0 {
		bad("ExpiryInterval and RetentionInterval must not be negative")
	}
	if v.Raft.PeerServerTLS != nil && v.Gossip.BindAddr != "" && len(v.Gossip.SecretKey) == 0 {
		bad("Raft.PeerServerTLS with gossip needs a Gossip.SecretKey (memberlist is not under TLS; the key is what keeps other hosts out of gossip)")
	}
	if len(v.NodeID) > 64 {
		bad("NodeID is %d bytes, limit 64", len(v.NodeID))
	}
	return errors.Join(errs...)
}
