package cluster

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/flowmesh/flowmesh/internal/certs"
)

// peerTLS generates a certs init directory and returns the raft server and
// client configs of its peer certificate.
func peerTLS(t *testing.T) (server, client *tls.Config, dir string) {
	t.Helper()
	dir = t.TempDir()
	if err := certs.Generate(dir, nil); err != nil {
		t.Fatal(err)
	}
	src := loadPeer(t, dir)
	return certs.ServerConfig(src, tls.RequireAndVerifyClientCert, src), certs.ClientConfig(src, src, false), dir
}

func loadPeer(t *testing.T, dir string) *certs.Source {
	t.Helper()
	src, err := certs.Load(certs.Files{
		Cert: filepath.Join(dir, certs.PeerCertFile),
		Key:  filepath.Join(dir, certs.PeerKeyFile),
		CA:   filepath.Join(dir, certs.PeerCAFile),
	})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestTLSTransport forms a two-node raft cluster over mutual TLS, then
// sends a forged AppendEntries (term+1, as an attacker on the network
// would) to the follower's raft port, first over plain TCP and then over
// TLS with a certificate from another CA: both are refused at the
// handshake and the follower's log and term do not move.
func TestTLSTransport(t *testing.T) {
	srvTLS, cliTLS, dir := peerTLS(t)
	cfg1 := testConfig(t, t.TempDir())
	cfg1.PeerServerTLS, cfg1.PeerClientTLS = srvTLS, cliTLS
	c1 := startNode(t, cfg1, newCounterFSM(t.TempDir(), false))

	cfg2 := testConfig(t, t.TempDir())
	cfg2.ID, cfg2.Bootstrap = "n2", false
	cfg2.PeerServerTLS, cfg2.PeerClientTLS = srvTLS, cliTLS
	fsm2 := newCounterFSM(t.TempDir(), false)
	c2, err := New(cfg2, fsm2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c2.Shutdown() })
	if err := c1.Raft().AddVoter("n2", raft.ServerAddress(c2.RaftAddr()), 0, 5*time.Second).Error(); err != nil {
		t.Fatalf("AddVoter: %v", err)
	}
	want := apply(t, c1, "over tls").(int)
	waitCount(t, fsm2, want)

	termBefore, lastBefore := c2.Raft().Stats()["term"], c2.Raft().LastIndex()

	plain, err := raft.NewTCPTransport("127.0.0.1:0", nil, 1, 2*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	// Control: the same forgery is applied by a node without TLS.
	cfg3 := testConfig(t, t.TempDir())
	cfg3.ID = "n3"
	c3 := startNode(t, cfg3, newCounterFSM(t.TempDir(), false))
	term3 := c3.Raft().Stats()["term"]
	if err := forge(plain, c3); err != nil {
		t.Fatalf("control: forged AppendEntries to a plain raft node: %v", err)
	}
	t3, _ := strconv.ParseUint(term3, 10, 64)
	if got, _ := strconv.ParseUint(c3.Raft().Stats()["term"], 10, 64); got < t3+forgedTermJump {
		t.Fatalf("control: the forgery did not move the plain node's term %d (now %d)", t3, got)
	}
	c3.Shutdown()

	if err := forge(plain, c2); err == nil {
		t.Error("plain TCP AppendEntries to a TLS raft port succeeded")
	}

	// The rogue trusts the real peer CA (its certificate is public) but can
	// only present a certificate of its own CA.
	rogueSrv, _, rogueDir := peerTLS(t)
	rogueSrc := loadPeer(t, rogueDir)
	realCA, err := certs.Load(certs.Files{CA: filepath.Join(dir, certs.PeerCAFile)})
	if err != nil {
		t.Fatal(err)
	}
	rogueCli := certs.ClientConfig(rogueSrc, realCA, false)
	stream, err := newTLSStreamLayer(listenLocal(t), nil, rogueSrv, rogueCli, HandshakeTimeout, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rogue := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: stream, MaxPool: 1, Timeout: 2 * time.Second})
	defer rogue.Close()
	if err := forge(rogue, c2); err == nil {
		t.Error("AppendEntries with a certificate of another CA succeeded")
	}

	// Elections may move the term a little on a loaded machine; only a
	// forgery jumps it by forgedTermJump or writes its entry.
	before, _ := strconv.ParseUint(termBefore, 10, 64)
	if got, _ := strconv.ParseUint(c2.Raft().Stats()["term"], 10, 64); got >= before+forgedTermJump {
		t.Fatalf("follower took the forged term: %d -> %d", before, got)
	}
	for i := lastBefore + 1; i <= c2.Raft().LastIndex(); i++ {
		var l raft.Log
		if err := c2.bolt.GetLog(i, &l); err == nil && string(l.Data) == "forged" {
			t.Fatalf("follower stored the forged entry at index %d", i)
		}
	}
	// The cluster still replicates.
	waitCount(t, fsm2, apply(t, c1, "after the forgeries").(int))
	if err := c2.Shutdown(); err != nil {
		t.Error(err)
	}
	if err := c1.Shutdown(); err != nil {
		t.Error(err)
	}
}

// forge sends target, over trans, an AppendEntries of a term one above
// target's whose entry follows its last, as a rogue leader would.
// forgedTermJump is how far a forged AppendEntries moves a term: far
// beyond what real elections on a loaded machine reach during a test, so
// a moved term tells a forgery from an election.
const forgedTermJump = 1000

// forge sends target an AppendEntries from a "rogue" leader over trans.
func forge(trans raft.Transport, target *Cluster) error {
	tn, _ := strconv.ParseUint(target.Raft().Stats()["term"], 10, 64)
	last := target.Raft().LastIndex()
	req := &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{
			ProtocolVersion: raft.ProtocolVersionMax,
			ID:              []byte("rogue"), Addr: []byte(trans.LocalAddr()),
		},
		Term:              tn + forgedTermJump,
		PrevLogEntry:      last,
		PrevLogTerm:       tn,
		Entries:           []*raft.Log{{Index: last + 1, Term: tn + forgedTermJump, Type: raft.LogCommand, Data: []byte("forged")}},
		LeaderCommitIndex: last + 1,
	}
	var resp raft.AppendEntriesResponse
	return trans.AppendEntries(raft.ServerID(target.ID()), raft.ServerAddress(target.RaftAddr()), req, &resp)
}

func waitCount(t *testing.T, f *counterFSM, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _, _ := f.state()
		if st.Count == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("follower count %d, want %d", st.Count, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTLSHandshakeDeadline: a connection that never starts its handshake
// is closed by the server once the handshake deadline passes.
func TestTLSHandshakeDeadline(t *testing.T) {
	srvTLS, cliTLS, _ := peerTLS(t)
	s, err := newTLSStreamLayer(listenLocal(t), nil, srvTLS, cliTLS, 200*time.Millisecond, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	n, err := conn.Read(make([]byte, 1))
	if err == nil || time.Since(start) > 4*time.Second {
		t.Fatalf("Read = %d, %v after %v: want the server to close the silent connection", n, err, time.Since(start))
	}
	if c, err := s.Dial(raft.ServerAddress(s.Addr().String()), 2*time.Second); err != nil {
		t.Fatalf("a peer with the right certificate: %v", err)
	} else {
		c.Close()
	}
}

func TestPeerTLSValidate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ID, cfg.DataDir, cfg.BindAddr = "a", "d", "127.0.0.1:0"
	cfg.PeerServerTLS = &tls.Config{}
	err := cfg.Validate()
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 2 {
		t.Errorf("Validate = %v, want: the two go together, and client certs must be required", err)
	}
}

func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
