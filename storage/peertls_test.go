package storage

import (
	"crypto/tls"
	"strings"
	"testing"
)

func TestPeerTLSNeedsGossipKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" for valid
	}{
		{"tls and gossip without key", Config{GossipAddr: "127.0.0.1:0", PeerServerTLS: &tls.Config{}, PeerClientTLS: &tls.Config{}}, "needs a GossipKey"},
		{"tls and gossip with key", Config{GossipAddr: "127.0.0.1:0", GossipKey: make([]byte, 32), PeerServerTLS: &tls.Config{}, PeerClientTLS: &tls.Config{}}, ""},
		{"tls without gossip", Config{PeerServerTLS: &tls.Config{}, PeerClientTLS: &tls.Config{}}, ""},
		{"half tls", Config{PeerServerTLS: &tls.Config{}}, "go together"},
	} {
		err := tc.cfg.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Validate = %v, want %q", tc.name, err, tc.want)
		}
	}
}
