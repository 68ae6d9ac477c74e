package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config configures a node. Zero fields take DefaultConfig's values, so a
// partly filled Config (as in the founding examples) works.
type Config struct {
	DataDir        string
	SegmentMaxSize int64         // roll stream segments at this size
	SegmentMaxAge  time.Duration // and at this age (by stamped time)
	FlushInterval  time.Duration // how often the FSM's stores are fsynced and checkpointed

	// NodeID is the stable raft server ID; when empty it is generated once and
	// kept in DataDir/node-id.
	NodeID string
	// RaftAddr is the raft transport's bind address (default 127.0.0.1:0 for an
	// embedded single node).
	RaftAddr string
	// Bootstrap forms a single-voter cluster when there is no raft state.
	// Embedded nodes bootstrap; cluster members leave it off and are joined.
	Bootstrap *bool

	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	// HeartbeatTimeout and ElectionTimeout tune raft; zero keeps cluster's defaults.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration

	ExpiryInterval    time.Duration // how often the leader looks for expired KV keys
	RetentionInterval time.Duration // how often the leader applies stream retention

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
	if v.FlushInterval < 0 {
		errs = append(errs, errors.New("storage: FlushInterval is negative"))
	}
	if v.SnapshotInterval < 0 {
		errs = append(errs, errors.New("storage: SnapshotInterval is negative"))
	}
	if v.ExpiryInterval < 0 || v.RetentionInterval < 0 {
		errs = append(errs, errors.New("storage: ExpiryInterval and RetentionInterval must not be negative"))
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
