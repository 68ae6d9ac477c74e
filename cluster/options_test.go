package cluster

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// Options' zero fields take this package's defaults; TrailingLogs and
// RaftLimits follow the fields they derive from.
func TestOptionsEnsureDefaults(t *testing.T) {
	var o Options
	o.EnsureDefaults()
	want := DefaultOptions()
	want.TrailingLogs = want.SnapshotThreshold + want.SnapshotThreshold/4
	want.RaftLimits = DefaultRaftLimits().withDefaults(want.MaxAppendEntries)
	if !reflect.DeepEqual(o, want) {
		t.Errorf("Options{}.EnsureDefaults() = %+v\nwant %+v", o, want)
	}
	if o.LogStore != "" {
		t.Errorf("LogStore defaulted to %q; \"\" must stay (the data dir decides)", o.LogStore)
	}
	if o.FsyncStallTimeout != DefaultFsyncStallTimeout {
		t.Errorf("FsyncStallTimeout = %v, want %v", o.FsyncStallTimeout, DefaultFsyncStallTimeout)
	}
	set := Options{SnapshotThreshold: 100, FsyncStallTimeout: -1, HeartbeatTimeout: time.Second, ElectionTimeout: time.Second}
	set.EnsureDefaults()
	if set.TrailingLogs != 125 || set.FsyncStallTimeout != -1 || set.HeartbeatTimeout != time.Second {
		t.Errorf("EnsureDefaults over set fields = %+v", set)
	}
	if err := set.Validate(); err != nil {
		t.Errorf("a negative FsyncStallTimeout (no watchdog) is invalid: %v", err)
	}
	// Config's zero fields take the same defaults.
	c := Config{}.withDefaults()
	if !reflect.DeepEqual(c.Options, o) {
		t.Errorf("Config{}.withDefaults().Options = %+v, want %+v", c.Options, o)
	}
}

func TestGossipOptions(t *testing.T) {
	var o GossipOptions
	o.EnsureDefaults()
	if !reflect.DeepEqual(o, GossipOptions{MaxStreams: DefaultGossipMaxStreams, MaxStreamBytes: DefaultGossipMaxStreamBytes}) {
		t.Errorf("GossipOptions{}.EnsureDefaults() = %+v", o)
	}
	if !reflect.DeepEqual(o, DefaultGossipOptions()) {
		t.Errorf("EnsureDefaults = %+v, DefaultGossipOptions = %+v", o, DefaultGossipOptions())
	}
	for _, tc := range []struct {
		name string
		o    GossipOptions
		want string // "" for valid
	}{
		{"no gossip", GossipOptions{}, ""},
		{"cluster member", GossipOptions{BindAddr: ":7402", Join: []string{"a:7402"}, BootstrapExpect: 3, SecretKey: make([]byte, 32)}, ""},
		{"join without bind", GossipOptions{Join: []string{"a:7402"}}, "need a BindAddr"},
		{"key without bind", GossipOptions{SecretKey: make([]byte, 16)}, "need a BindAddr"},
		{"short key", GossipOptions{BindAddr: ":7402", SecretKey: make([]byte, 15)}, "SecretKey is 15 bytes"},
		{"negative expect", GossipOptions{BindAddr: ":7402", BootstrapExpect: -2}, "BootstrapExpect -2 is negative"},
		{"negative streams", GossipOptions{BindAddr: ":7402", MaxStreams: -1}, "MaxStreams -1 is negative"},
	} {
		err := tc.o.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Validate = %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := NewMembership(MembershipConfig{Name: "g", GossipOptions: GossipOptions{BindAddr: "127.0.0.1:0", MaxStreams: -1}}); err == nil || !strings.Contains(err.Error(), "MaxStreams -1") {
		t.Errorf("NewMembership with MaxStreams -1 = %v, want the Validate error", err)
	}
}
