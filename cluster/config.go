package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config configures a Cluster: who this node is and what it is wired to,
// plus the Options an operator tunes. Zero fields take the defaults,
// except ID, DataDir and BindAddr, which are required.
type Config struct {
	ID            string // raft server ID; stable for the life of the data dir
	DataDir       string // raft state lives in DataDir/raft: the log store (wal/ or raft.db) and snapshots/
	BindAddr      string // raft TCP transport bind address; "127.0.0.1:0" picks a port
	AdvertiseAddr string // address peers dial; defaults to the bound address
	Bootstrap     bool   // bootstrap a single-voter cluster when there is no raft state

	Options

	// GRPCAddrOf maps a raft server ID to its gRPC address, for the
	// LeaderAddr of NotLeaderError; nil reports the raft address.
	GRPCAddrOf func(id string) string
	// OnLogNoSpace is called when a write to the raft log fails for want
	// of space (ENOSPC, EDQUOT), from raft's goroutine: the node frees what
	// it can and raises its disk alarm. Optional; it must not block.
	OnLogNoSpace func()

	Clock  func() time.Time // the leader's stamping clock
	Logger *slog.Logger

	stallHook func()      // tests: runs inside every raft log write
	batchHook func(n int) // tests: the batcher holds back an entry of n commands
}

// Options are the raft settings a node's operator tunes
// (storage.Config.Raft). Zero fields take DefaultOptions' values
// (EnsureDefaults); LogStore's zero value has a meaning of its own.
type Options struct {
	SnapshotThreshold uint64        // log entries since the last snapshot that trigger one
	SnapshotInterval  time.Duration // how often raft checks SnapshotThreshold
	TrailingLogs      uint64        // entries kept after a snapshot; 0 means 1.25 x SnapshotThreshold
	SnapshotRetain    int           // complete snapshots kept on disk
	// SnapshotRestoreMaxBytes bounds an uploaded snapshot, which Restore
	// stages on disk before it verifies it (it briefly needs about three
	// times that space: the upload, raft's copy and the FSM's); 0 means
	// DefaultSnapshotRestoreMaxBytes (64 GiB).
	SnapshotRestoreMaxBytes int64
	// LogStore is the raft log and stable store: LogStoreBolt or
	// LogStoreWAL. "" (the default) opens the store the data dir holds,
	// and DefaultLogStore (raft-wal) in a new one. A data dir keeps the store it was
	// created with: naming the other one is an error (ConvertLogStore
	// converts a stopped node's dir).
	LogStore string

	// Raft timing, tuned for a LAN: a follower starts an election after
	// HeartbeatTimeout without contact; a leader steps down after
	// LeaderLeaseTimeout without a quorum; CommitTimeout bounds how long a
	// follower may lag in learning the commit index when the log is idle.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	MaxAppendEntries   int // log entries per AppendEntries RPC and per FSM.ApplyBatch

	// Group commit: concurrent Apply calls share one log entry of at most
	// BatchMaxCommands commands and BatchMaxBytes encoded bytes (raft entries
	// must stay under 512 KiB). BatchLinger is how long the batcher waits for
	// more commands once it holds one; 0 takes what is queued and never waits.
	BatchMaxCommands int
	BatchMaxBytes    int
	BatchLinger      time.Duration
	// MaxInflightEntries bounds the log entries proposed but not yet applied.
	MaxInflightEntries int

	// FsyncStallTimeout: a leader whose raft log write takes longer steps
	// down (see runWatchdog). 0 means DefaultFsyncStallTimeout; negative
	// disables the watchdog.
	FsyncStallTimeout time.Duration

	// PeerServerTLS and PeerClientTLS, both or neither, run the raft
	// transport over mutual TLS: the server side must require and verify
	// client certificates against the peer CA and the client side must
	// present one and verify the server against that CA (chain only; see
	// doc.go). Nil runs plain TCP.
	PeerServerTLS *tls.Config
	PeerClientTLS *tls.Config

	// RaftLimits bounds inbound raft connections (see doc.go, "Transport
	// budgets"); zero fields take DefaultRaftLimits.
	RaftLimits RaftLimits
}

// maxEntryBytes is the hard limit on an encoded log entry.
const maxEntryBytes = 512 << 10

// DefaultFsyncStallTimeout is Options.FsyncStallTimeout's default.
const DefaultFsyncStallTimeout = 5 * time.Second

// DefaultOptions returns the defaults. TrailingLogs is left 0, which
// follows SnapshotThreshold, and LogStore "", which follows the data dir.
func DefaultOptions() Options {
	return Options{
		SnapshotThreshold:       16384,
		SnapshotInterval:        30 * time.Second,
		SnapshotRetain:          DefaultSnapshotRetain,
		SnapshotRestoreMaxBytes: DefaultSnapshotRestoreMaxBytes,
		HeartbeatTimeout:        500 * time.Millisecond,
		ElectionTimeout:         500 * time.Millisecond,
		LeaderLeaseTimeout:      250 * time.Millisecond,
		CommitTimeout:           5 * time.Millisecond,
		MaxAppendEntries:        64,
		BatchMaxCommands:        512,
		BatchMaxBytes:           480 << 10,
		MaxInflightEntries:      64,
		FsyncStallTimeout:       DefaultFsyncStallTimeout,
	}
}

// DefaultConfig returns the defaults. ID, DataDir and BindAddr are left
// empty.
func DefaultConfig() Config {
	return Config{
		Options: DefaultOptions(),
		Clock:   time.Now,
		Logger:  slog.Default(),
	}
}

// EnsureDefaults fills o's zero fields from DefaultOptions, TrailingLogs
// from SnapshotThreshold and RaftLimits from DefaultRaftLimits.
func (o *Options) EnsureDefaults() {
	d := DefaultOptions()
	if o.SnapshotThreshold == 0 {
		o.SnapshotThreshold = d.SnapshotThreshold
	}
	if o.SnapshotInterval == 0 {
		o.SnapshotInterval = d.SnapshotInterval
	}
	if o.TrailingLogs == 0 {
		o.TrailingLogs = o.SnapshotThreshold + o.SnapshotThreshold/4
	}
	setDefault(&o.SnapshotRetain, d.SnapshotRetain)
	setDefault(&o.SnapshotRestoreMaxBytes, d.SnapshotRestoreMaxBytes)
	setDefault(&o.HeartbeatTimeout, d.HeartbeatTimeout)
	setDefault(&o.ElectionTimeout, d.ElectionTimeout)
	setDefault(&o.LeaderLeaseTimeout, d.LeaderLeaseTimeout)
	setDefault(&o.CommitTimeout, d.CommitTimeout)
	setDefault(&o.MaxAppendEntries, d.MaxAppendEntries)
	setDefault(&o.BatchMaxCommands, d.BatchMaxCommands)
	setDefault(&o.BatchMaxBytes, d.BatchMaxBytes)
	setDefault(&o.MaxInflightEntries, d.MaxInflightEntries)
	setDefault(&o.FsyncStallTimeout, d.FsyncStallTimeout)
	o.RaftLimits = o.RaftLimits.withDefaults(o.MaxAppendEntries)
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	c.EnsureDefaults()
	d := DefaultConfig()
	if c.Clock == nil {
		c.Clock = d.Clock
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}

func setDefault[T int | int64 | time.Duration](p *T, v T) {
	if *p == 0 {
		*p = v
	}
}

// Validate reports every problem with c. Zero fields that New fills from
// DefaultConfig are not problems.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("cluster: "+format, args...)) }
	if c.ID == "" {
		bad("ID is required")
	}
	if c.DataDir == "" {
		bad("DataDir is required")
	}
	if c.BindAddr == "" {
		bad("BindAddr is required")
	}
	if err := c.Options.Validate(); err != nil {
		errs = append(errs, err.(interface{ Unwrap() []error }).Unwrap()...)
	}
	return errors.Join(errs...)
}

// Validate reports every problem with o. Zero fields, which EnsureDefaults
// fills, are not problems.
func (o Options) Validate() error {
	o.EnsureDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("cluster: "+format, args...)) }
	if (o.PeerServerTLS == nil) != (o.PeerClientTLS == nil) {
		bad("PeerServerTLS and PeerClientTLS go together")
	}
	if o.PeerServerTLS != nil && o.PeerServerTLS.ClientAuth != tls.RequireAndVerifyClientCert && o.PeerServerTLS.GetConfigForClient == nil {
		bad("PeerServerTLS must require and verify client certificates")
	}
	o.RaftLimits.validate(bad)
	if o.LogStore != "" && o.LogStore != LogStoreBolt && o.LogStore != LogStoreWAL {
		bad("LogStore %q is neither %q nor %q", o.LogStore, LogStoreBolt, LogStoreWAL)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"SnapshotInterval", o.SnapshotInterval},
		{"HeartbeatTimeout", o.HeartbeatTimeout},
		{"ElectionTimeout", o.ElectionTimeout},
		{"LeaderLeaseTimeout", o.LeaderLeaseTimeout},
		{"CommitTimeout", o.CommitTimeout},
	} {
		if d.v < 0 {
			bad("%s %v is negative", d.name, d.v)
		}
	}
	if o.HeartbeatTimeout < 5*time.Millisecond {
		bad("HeartbeatTimeout %v is below 5ms", o.HeartbeatTimeout)
	}
	if o.ElectionTimeout < o.HeartbeatTimeout {
		bad("ElectionTimeout %v is below HeartbeatTimeout %v", o.ElectionTimeout, o.HeartbeatTimeout)
	}
	if o.LeaderLeaseTimeout > o.HeartbeatTimeout {
		bad("LeaderLeaseTimeout %v exceeds HeartbeatTimeout %v", o.LeaderLeaseTimeout, o.HeartbeatTimeout)
	}
	if o.BatchLinger < 0 {
		bad("BatchLinger %v is negative", o.BatchLinger)
	}
	if o.SnapshotRetain < 0 {
		bad("SnapshotRetain %d is negative", o.SnapshotRetain)
	}
	if o.SnapshotRestoreMaxBytes < 0 {
		bad("SnapshotRestoreMaxBytes %d is negative", o.SnapshotRestoreMaxBytes)
	}
	if o.MaxAppendEntries < 0 || o.MaxAppendEntries > 1024 {
		bad("MaxAppendEntries %d is outside 1..1024", o.MaxAppendEntries)
	}
	if o.BatchMaxCommands < 0 {
		bad("BatchMaxCommands %d is negative", o.BatchMaxCommands)
	}
	if o.BatchMaxBytes < 0 || o.BatchMaxBytes > maxEntryBytes-entryOverhead {
		bad("BatchMaxBytes %d is outside 1..%d", o.BatchMaxBytes, maxEntryBytes-entryOverhead)
	}
	if o.MaxInflightEntries < 0 {
		bad("MaxInflightEntries %d is negative", o.MaxInflightEntries)
	}
	return errors.Join(errs...)
}
