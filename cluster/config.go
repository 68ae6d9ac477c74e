package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config configures a Cluster. Zero fields take the DefaultConfig values,
// except ID, DataDir and BindAddr, which are required.
type Config struct {
	ID            string // raft server ID; stable for the life of the data dir
	DataDir       string // raft state lives in DataDir/raft: the log store (wal/ or raft.db) and snapshots/
	BindAddr      string // raft TCP transport bind address; "127.0.0.1:0" picks a port
	AdvertiseAddr string // address peers dial; defaults to the bound address
	Bootstrap     bool   // bootstrap a single-voter cluster when there is no raft state

	SnapshotThreshold uint64        // log entries since the last snapshot that trigger one
	SnapshotInterval  time.Duration // how often raft checks SnapshotThreshold
	TrailingLogs      uint64        // entries kept after a snapshot; 0 means 1.25 x SnapshotThreshold
	SnapshotRetain    int           // complete snapshots kept on disk
	// SnapshotRestoreMaxBytes bounds an uploaded snapshot, which Restore
	// stages on disk before it verifies it; 0 means
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

	// GRPCAddrOf maps a raft server ID to its gRPC address, for the
	// LeaderAddr of NotLeaderError; nil reports the raft address.
	GRPCAddrOf func(id string) string
	// FsyncStallTimeout: a leader whose raft log write takes longer steps
	// down (see runWatchdog); 0 disables the watchdog.
	FsyncStallTimeout time.Duration
	// OnLogNoSpace is called when a write to the raft log fails for want
	// of space (ENOSPC, EDQUOT), from raft's goroutine: the node frees what
	// it can and raises its disk alarm. Optional; it must not block.
	OnLogNoSpace func()

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

	Clock  func() time.Time // the leader's stamping clock
	Logger *slog.Logger

	stallHook func()      // tests: runs inside every raft log write
	batchHook func(n int) // tests: the batcher holds back an entry of n commands
}

// maxEntryBytes is the hard limit on an encoded log entry.
const maxEntryBytes = 512 << 10

// DefaultConfig returns the defaults. ID, DataDir and BindAddr are left
// empty; TrailingLogs is left 0, which follows SnapshotThreshold.
func DefaultConfig() Config {
	return Config{
		SnapshotThreshold:  16384,
		SnapshotInterval:   30 * time.Second,
		SnapshotRetain:     DefaultSnapshotRetain,
		HeartbeatTimeout:   500 * time.Millisecond,
		ElectionTimeout:    500 * time.Millisecond,
		LeaderLeaseTimeout: 250 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		MaxAppendEntries:   64,
		BatchMaxCommands:   512,
		BatchMaxBytes:      480 << 10,
		MaxInflightEntries: 64,
		Clock:              time.Now,
		Logger:             slog.Default(),
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = d.SnapshotThreshold
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = d.SnapshotInterval
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = c.SnapshotThreshold + c.SnapshotThreshold/4
	}
	setDefault(&c.SnapshotRetain, d.SnapshotRetain)
	setDefault(&c.SnapshotRestoreMaxBytes, DefaultSnapshotRestoreMaxBytes)
	setDefault(&c.HeartbeatTimeout, d.HeartbeatTimeout)
	setDefault(&c.ElectionTimeout, d.ElectionTimeout)
	setDefault(&c.LeaderLeaseTimeout, d.LeaderLeaseTimeout)
	setDefault(&c.CommitTimeout, d.CommitTimeout)
	setDefault(&c.MaxAppendEntries, d.MaxAppendEntries)
	setDefault(&c.BatchMaxCommands, d.BatchMaxCommands)
	setDefault(&c.BatchMaxBytes, d.BatchMaxBytes)
	setDefault(&c.MaxInflightEntries, d.MaxInflightEntries)
	c.RaftLimits = c.RaftLimits.withDefaults(c.MaxAppendEntries)
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
	c = c.withDefaults()
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
	if (c.PeerServerTLS == nil) != (c.PeerClientTLS == nil) {
		bad("PeerServerTLS and PeerClientTLS go together")
	}
	if c.PeerServerTLS != nil && c.PeerServerTLS.ClientAuth != tls.RequireAndVerifyClientCert && c.PeerServerTLS.GetConfigForClient == nil {
		bad("PeerServerTLS must require and verify client certificates")
	}
	c.RaftLimits.validate(bad)
	if c.LogStore != "" && c.LogStore != LogStoreBolt && c.LogStore != LogStoreWAL {
		bad("LogStore %q is neither %q nor %q", c.LogStore, LogStoreBolt, LogStoreWAL)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"SnapshotInterval", c.SnapshotInterval},
		{"HeartbeatTimeout", c.HeartbeatTimeout},
		{"ElectionTimeout", c.ElectionTimeout},
		{"LeaderLeaseTimeout", c.LeaderLeaseTimeout},
		{"CommitTimeout", c.CommitTimeout},
	} {
		if d.v < 0 {
			bad("%s %v is negative", d.name, d.v)
		}
	}
	if c.HeartbeatTimeout < 5*time.Millisecond {
		bad("HeartbeatTimeout %v is below 5ms", c.HeartbeatTimeout)
	}
	if c.ElectionTimeout < c.HeartbeatTimeout {
		bad("ElectionTimeout %v is below HeartbeatTimeout %v", c.ElectionTimeout, c.HeartbeatTimeout)
	}
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		bad("LeaderLeaseTimeout %v exceeds HeartbeatTimeout %v", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	if c.FsyncStallTimeout < 0 {
		bad("FsyncStallTimeout %v is negative", c.FsyncStallTimeout)
	}
	if c.BatchLinger < 0 {
		bad("BatchLinger %v is negative", c.BatchLinger)
	}
	if c.SnapshotRetain < 0 {
		bad("SnapshotRetain %d is negative", c.SnapshotRetain)
	}
	if c.SnapshotRestoreMaxBytes < 0 {
		bad("SnapshotRestoreMaxBytes %d is negative", c.SnapshotRestoreMaxBytes)
	}
	if c.MaxAppendEntries < 0 || c.MaxAppendEntries > 1024 {
		bad("MaxAppendEntries %d is outside 1..1024", c.MaxAppendEntries)
	}
	if c.BatchMaxCommands < 0 {
		bad("BatchMaxCommands %d is negative", c.BatchMaxCommands)
	}
	if c.BatchMaxBytes < 0 || c.BatchMaxBytes > maxEntryBytes-entryOverhead {
		bad("BatchMaxBytes %d is outside 1..%d", c.BatchMaxBytes, maxEntryBytes-entryOverhead)
	}
	if c.MaxInflightEntries < 0 {
		bad("MaxInflightEntries %d is negative", c.MaxInflightEntries)
	}
	return errors.Join(errs...)
}
