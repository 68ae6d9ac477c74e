package cluster

import (
	"errors"
	"fmt"
)

// GossipOptions are the gossip (memberlist) settings a node's operator
// tunes (storage.Config.Gossip); MembershipConfig embeds them. Zero fields
// take defaults (EnsureDefaults).
type GossipOptions struct {
	// BindAddr is memberlist's host:port (TCP and UDP); port 0 picks one.
	// A node whose BindAddr is "" runs no gossip (storage: an embedded
	// single node).
	BindAddr string
	// SecretKey encrypts gossip (AES, 16, 24 or 32 bytes); nil disables it.
	SecretKey []byte
	// Join lists gossip addresses to join, retried in the background
	// (Membership.JoinBackground).
	Join []string
	// BootstrapExpect is gossiped in the node's metadata: > 1 forms a
	// cluster once that many fresh servers with the same value see each
	// other (Manage); 1 bootstraps alone; 0 waits to be added.
	BootstrapExpect int
	// DeadServerCleanup lets the leader remove dead servers from the raft
	// configuration, never below a quorum of it (Manage); off, only the
	// operator does.
	DeadServerCleanup bool
	// MaxStreams bounds inbound gossip streams open at once (0:
	// DefaultGossipMaxStreams); MaxStreamBytes the bytes read from one (0:
	// DefaultGossipMaxStreamBytes).
	MaxStreams     int
	MaxStreamBytes int64
}

// DefaultGossipOptions returns the defaults: no BindAddr (no gossip).
func DefaultGossipOptions() GossipOptions {
	return GossipOptions{MaxStreams: DefaultGossipMaxStreams, MaxStreamBytes: DefaultGossipMaxStreamBytes}
}

// EnsureDefaults fills o's zero fields from DefaultGossipOptions.
func (o *GossipOptions) EnsureDefaults() {
	d := DefaultGossipOptions()
	setDefault(&o.MaxStreams, d.MaxStreams)
	setDefault(&o.MaxStreamBytes, d.MaxStreamBytes)
}

// Validate reports every problem with o. Zero fields, which EnsureDefaults
// fills, are not problems.
func (o GossipOptions) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("cluster: gossip "+format, args...)) }
	if o.BindAddr == "" && (len(o.Join) > 0 || o.BootstrapExpect > 1 || len(o.SecretKey) > 0) {
		bad("Join, BootstrapExpect > 1 and SecretKey need a BindAddr")
	}
	if n := len(o.SecretKey); n != 0 && n != 16 && n != 24 && n != 32 {
		bad("SecretKey is %d bytes, want 16, 24 or 32", n)
	}
	if o.BootstrapExpect < 0 {
		bad("BootstrapExpect %d is negative", o.BootstrapExpect)
	}
	if o.MaxStreams < 0 {
		bad("MaxStreams %d is negative", o.MaxStreams)
	}
	if o.MaxStreamBytes < 0 {
		bad("MaxStreamBytes %d is negative", o.MaxStreamBytes)
	}
	return errors.Join(errs...)
}
