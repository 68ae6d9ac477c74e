package storage_test

import (
	"crypto/tls"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/cluster"
	"github.com/flowmesh/flowmesh/segment"
	"github.com/flowmesh/flowmesh/storage"
)

// The nested options take their defaults from the package that owns them:
// storage derives none of them.
func TestConfigDefaultsComeFromEachPackage(t *testing.T) {
	raft := cluster.DefaultOptions()
	raft.EnsureDefaults() // TrailingLogs and RaftLimits follow the other fields
	for _, tc := range []struct {
		name string
		cfg  *storage.Config
	}{
		{"zero Config", &storage.Config{}},
		{"DefaultConfig", storage.DefaultConfig()},
		{"founding literal", &storage.Config{DataDir: "./data", FlushInterval: 5 * time.Second}},
	} {
		got := tc.cfg.EnsureDefaults()
		for _, c := range []struct {
			field     string
			got, want any
		}{
			{"Segment", got.Segment, segment.DefaultOptions()},
			{"Raft", got.Raft, raft},
			{"Gossip", got.Gossip, cluster.DefaultGossipOptions()},
			{"Raft.LogStore", got.Raft.LogStore, ""}, // "": the data dir decides (cluster.DefaultLogStore when new)
			{"Raft.FsyncStallTimeout", got.Raft.FsyncStallTimeout, cluster.DefaultFsyncStallTimeout},
			{"Raft.TrailingLogs", got.Raft.TrailingLogs, got.Raft.SnapshotThreshold + got.Raft.SnapshotThreshold/4},
			{"Segment.SegmentMaxAge", got.Segment.SegmentMaxAge, segment.DefaultSegmentMaxAge},
			{"FlushInterval", got.FlushInterval, 5 * time.Second},
			{"DataDir", got.DataDir, "./data"},
		} {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("%s: EnsureDefaults().%s = %+v, want %+v", tc.name, c.field, c.got, c.want)
			}
		}
		if err := got.Validate(); err != nil {
			t.Errorf("%s: Validate = %v", tc.name, err)
		}
	}
}

// A nested field that is set is kept; the zero ones around it still take
// their package's defaults.
func TestConfigNestedFieldsKept(t *testing.T) {
	cfg := (&storage.Config{
		Raft:    cluster.Options{HeartbeatTimeout: time.Second, ElectionTimeout: 2 * time.Second, LogStore: cluster.LogStoreWAL, FsyncStallTimeout: -1},
		Gossip:  cluster.GossipOptions{BindAddr: "127.0.0.1:0", MaxStreams: 9},
		Segment: segment.Options{IndexInterval: 512},
	}).EnsureDefaults()
	d := cluster.DefaultOptions()
	for _, c := range []struct {
		field     string
		got, want any
	}{
		{"Raft.HeartbeatTimeout", cfg.Raft.HeartbeatTimeout, time.Second},
		{"Raft.ElectionTimeout", cfg.Raft.ElectionTimeout, 2 * time.Second},
		{"Raft.LogStore", cfg.Raft.LogStore, cluster.LogStoreWAL},
		{"Raft.FsyncStallTimeout", cfg.Raft.FsyncStallTimeout, time.Duration(-1)}, // negative: no watchdog
		{"Raft.SnapshotThreshold", cfg.Raft.SnapshotThreshold, d.SnapshotThreshold},
		{"Gossip.MaxStreams", cfg.Gossip.MaxStreams, 9},
		{"Gossip.MaxStreamBytes", cfg.Gossip.MaxStreamBytes, int64(cluster.DefaultGossipMaxStreamBytes)},
		{"Segment.IndexInterval", cfg.Segment.IndexInterval, 512},
		{"Segment.SegmentMaxSize", cfg.Segment.SegmentMaxSize, int64(segment.DefaultSegmentMaxSize)},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
}

// The founding document's flat SegmentMaxSize and SegmentMaxAge are
// shortcuts folded into Config.Segment, winning over the nested fields, and
// a node built from them runs with them.
func TestConfigFoundingShortcuts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      storage.Config
		wantSize int64
		wantAge  time.Duration
	}{
		{"founding literal", storage.Config{DataDir: t.TempDir(), SegmentMaxSize: 100 << 20, SegmentMaxAge: 24 * time.Hour, FlushInterval: 5 * time.Second}, 100 << 20, 24 * time.Hour},
		{"shortcut over nested", storage.Config{SegmentMaxSize: 8 << 10, SegmentMaxAge: time.Hour, Segment: segment.Options{SegmentMaxSize: 1 << 20, SegmentMaxAge: 2 * time.Hour}}, 8 << 10, time.Hour},
		{"nested only", storage.Config{Segment: segment.Options{SegmentMaxSize: 1 << 20, SegmentMaxAge: -1}}, 1 << 20, -1},
		{"DefaultConfig plus shortcut", func() storage.Config {
			c := storage.DefaultConfig()
			c.SegmentMaxSize = 32 << 20
			return *c
		}(), 32 << 20, segment.DefaultSegmentMaxAge},
	} {
		cfg := tc.cfg
		cfg.DataDir = t.TempDir()
		s, err := storage.NewWithConfig(&cfg)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := s.Config()
		if got.Segment.SegmentMaxSize != tc.wantSize || got.Segment.SegmentMaxAge != tc.wantAge {
			t.Errorf("%s: node runs with Segment %+v, want size %d, age %v", tc.name, got.Segment, tc.wantSize, tc.wantAge)
		}
		if got.SegmentMaxSize != 0 || got.SegmentMaxAge != 0 {
			t.Errorf("%s: shortcuts not folded: SegmentMaxSize %d, SegmentMaxAge %v", tc.name, got.SegmentMaxSize, got.SegmentMaxAge)
		}
		// Folded once, the effective configuration builds the same node.
		again, err := storage.NewWithConfig(&got)
		if err != nil || !reflect.DeepEqual(again.Config().Segment, got.Segment) {
			t.Errorf("%s: rebuilding from Config(): %v, Segment %+v, want %+v", tc.name, err, again.Config().Segment, got.Segment)
		}
	}
}

// Validate names a bad nested field by its path in Config.
func TestConfigValidateNamesNestedField(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  storage.Config
		want []string
	}{
		{"raft heartbeat", storage.Config{Raft: cluster.Options{HeartbeatTimeout: time.Millisecond}},
			[]string{"storage: Config.Raft: cluster: HeartbeatTimeout 1ms is below 5ms"}},
		{"raft log store", storage.Config{Raft: cluster.Options{LogStore: "sqlite"}},
			[]string{`storage: Config.Raft: cluster: LogStore "sqlite" is neither`}},
		{"raft limits", storage.Config{Raft: cluster.Options{RaftLimits: cluster.RaftLimits{MaxConnections: -1}}},
			[]string{"storage: Config.Raft: cluster: RaftLimits"}},
		{"raft half tls", storage.Config{Raft: cluster.Options{PeerClientTLS: &tls.Config{}}},
			[]string{"storage: Config.Raft: cluster: PeerServerTLS and PeerClientTLS go together"}},
		{"gossip key", storage.Config{Gossip: cluster.GossipOptions{BindAddr: "127.0.0.1:0", SecretKey: make([]byte, 5)}},
			[]string{"storage: Config.Gossip: cluster: gossip SecretKey is 5 bytes, want 16, 24 or 32"}},
		{"gossip join without bind", storage.Config{Gossip: cluster.GossipOptions{Join: []string{"127.0.0.1:7402"}, BootstrapExpect: -1}},
			[]string{"storage: Config.Gossip: cluster: gossip Join, BootstrapExpect > 1 and SecretKey need a BindAddr", "storage: Config.Gossip: cluster: gossip BootstrapExpect -1 is negative"}},
		{"gossip budget", storage.Config{Gossip: cluster.GossipOptions{MaxStreamBytes: -1}},
			[]string{"storage: Config.Gossip: cluster: gossip MaxStreamBytes -1 is negative"}},
		{"segment index", storage.Config{Segment: segment.Options{IndexInterval: -1}},
			[]string{"storage: Config.Segment: segment: IndexInterval -1 must be positive"}},
		{"segment size nested", storage.Config{Segment: segment.Options{SegmentMaxSize: 1000}},
			[]string{"storage: Segment.SegmentMaxSize 1000 is below 4 KiB"}},
		{"segment size shortcut", storage.Config{SegmentMaxSize: 1000},
			[]string{"storage: SegmentMaxSize 1000 is below 4 KiB"}},
		{"top level", storage.Config{FlushInterval: -time.Second, MaxOpenSegmentFiles: -1},
			[]string{"storage: FlushInterval -1s is negative", "storage: MaxOpenSegmentFiles -1 is negative"}},
	} {
		err := tc.cfg.Validate()
		if err == nil {
			t.Errorf("%s: Validate = nil, want %q", tc.name, tc.want)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: Validate = %v, want it to contain %q", tc.name, err, w)
			}
		}
		if _, err := storage.NewWithConfig(&tc.cfg); err == nil {
			t.Errorf("%s: NewWithConfig accepted the config", tc.name)
		}
	}
}
