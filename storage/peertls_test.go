package storage

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/flowmesh/flowmesh/cluster"
)

func TestPeerTLSNeedsGossipKey(t *testing.T) {
	server := &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert}
	peer := func(gossip string, key []byte) Config {
		return Config{
			Raft:   cluster.Options{PeerServerTLS: server, PeerClientTLS: &tls.Config{}},
			Gossip: cluster.GossipOptions{BindAddr: gossip, SecretKey: key},
		}
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" for valid
	}{
		{"tls and gossip without key", peer("127.0.0.1:0", nil), "Raft.PeerServerTLS with gossip needs a Gossip.SecretKey"},
		{"tls and gossip with key", peer("127.0.0.1:0", make([]byte, 32)), ""},
		{"tls without gossip", peer("", nil), ""},
		{"half tls", Config{Raft: cluster.Options{PeerServerTLS: server}}, "Config.Raft: cluster: PeerServerTLS and PeerClientTLS go together"},
		{"server tls without client auth", Config{Raft: cluster.Options{PeerServerTLS: &tls.Config{}, PeerClientTLS: &tls.Config{}}}, "Config.Raft: cluster: PeerServerTLS must require and verify client certificates"},
	} {
		err := tc.cfg.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Validate = %v, want %q", tc.name, err, tc.want)
		}
	}
}
