package certs

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func generate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := Generate(dir, []string{"node1.example"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func load(t *testing.T, dir, cert, key, ca string) *Source {
	t.Helper()
	f := Files{CA: filepath.Join(dir, ca)}
	if cert != "" {
		f.Cert, f.Key = filepath.Join(dir, cert), filepath.Join(dir, key)
	}
	s, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// handshake serves one TLS connection with srv and dials it with cli,
// returning the client's view and the server's.
func handshake(t *testing.T, srv, cli *tls.Config) (client, server tls.ConnectionState, cerr, serr error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			serr = err
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		serr = tc.Handshake()
		server = tc.ConnectionState()
		if serr == nil {
			// Let the client finish reading (TLS 1.3 reports client-cert
			// rejections on the first read).
			tc.Write([]byte{1})
		}
	}()
	cli = cli.Clone()
	if cli.ServerName == "" {
		cli.ServerName = "localhost"
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), cli)
	if err == nil {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		client = c.ConnectionState()
		c.Close()
	}
	cerr = err
	<-done
	return
}

func TestMutualTLSVerifiedChains(t *testing.T) {
	dir := generate(t)
	node := load(t, dir, NodeCertFile, NodeKeyFile, CAFile)
	client := load(t, dir, ClientCertFile, ClientKeyFile, CAFile)
	_, srv, cerr, serr := handshake(t, ServerConfig(node, tls.RequireAndVerifyClientCert, node), ClientConfig(client, client, true))
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: client %v, server %v", cerr, serr)
	}
	if len(srv.VerifiedChains) == 0 || srv.VerifiedChains[0][0].Subject.CommonName != ClientCN {
		t.Fatalf("server VerifiedChains = %v, want a chain for CN %q", srv.VerifiedChains, ClientCN)
	}
	if srv.Version < tls.VersionTLS13 {
		t.Errorf("negotiated version %x, want TLS 1.3", srv.Version)
	}
}

func TestRefused(t *testing.T) {
	dir, other := generate(t), generate(t)
	node := load(t, dir, NodeCertFile, NodeKeyFile, CAFile)
	peerA := load(t, dir, PeerCertFile, PeerKeyFile, PeerCAFile)
	peerB := load(t, other, PeerCertFile, PeerKeyFile, PeerCAFile)
	caOnly := load(t, dir, "", "", CAFile)
	for _, tc := range []struct {
		name     string
		srv, cli *tls.Config
	}{
		{"no client cert", ServerConfig(node, tls.RequireAndVerifyClientCert, node), ClientConfig(nil, caOnly, true)},
		{"client cert from another CA", ServerConfig(peerA, tls.RequireAndVerifyClientCert, peerA), ClientConfig(peerB, peerA, false)},
		{"server cert from another CA", ServerConfig(peerB, tls.RequireAndVerifyClientCert, peerB), ClientConfig(peerA, peerA, false)},
		{"server name not in the certificate", ServerConfig(peerA, tls.NoClientCert), func() *tls.Config {
			c := ClientConfig(nil, peerA, true)
			return c
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cli := tc.cli
			if tc.name == "server name not in the certificate" {
				// handshake dials as "localhost", which peer.crt has; use a
				// name it lacks.
				cli = cli.Clone()
				cli.ServerName = "elsewhere.example"
			}
			_, _, cerr, serr := handshake(t, tc.srv, cli)
			if cerr == nil && serr == nil {
				t.Fatal("handshake succeeded, want it refused")
			}
		})
	}
}

func TestReload(t *testing.T) {
	dir, next := generate(t), generate(t)
	node := load(t, dir, NodeCertFile, NodeKeyFile, CAFile)
	srv := ServerConfig(node, tls.NoClientCert)
	oldCA := load(t, dir, "", "", CAFile)
	newCA := load(t, next, "", "", CAFile)
	if _, _, cerr, _ := handshake(t, srv, ClientConfig(nil, oldCA, true)); cerr != nil {
		t.Fatalf("before reload: %v", cerr)
	}

	// A failed reload (the key does not match the new certificate) keeps
	// the old pair and names the file.
	copyFile(t, filepath.Join(next, NodeCertFile), filepath.Join(dir, NodeCertFile))
	err := node.Reload()
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, NodeCertFile)) {
		t.Fatalf("Reload with a mismatched key = %v, want an error naming %s", err, NodeCertFile)
	}
	if _, _, cerr, _ := handshake(t, srv, ClientConfig(nil, oldCA, true)); cerr != nil {
		t.Fatalf("after a failed reload the old certificate should still serve: %v", cerr)
	}
	copyFile(t, filepath.Join(next, NodeKeyFile), filepath.Join(dir, NodeKeyFile))
	os.Remove(filepath.Join(dir, CAFile))
	if err := node.Reload(); err == nil || !strings.Contains(err.Error(), CAFile) {
		t.Fatalf("Reload with the CA missing = %v, want an error naming %s", err, CAFile)
	}

	if _, _, cerr, _ := handshake(t, srv, ClientConfig(nil, oldCA, true)); cerr != nil {
		t.Fatalf("after a failed reload the old material should still serve: %v", cerr)
	}

	// A good reload: new connections see the new certificate.
	copyFile(t, filepath.Join(next, CAFile), filepath.Join(dir, CAFile))
	if err := node.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, _, cerr, _ := handshake(t, srv, ClientConfig(nil, oldCA, true)); cerr == nil {
		t.Fatal("after reload a client trusting only the old CA still connected")
	}
	cs, _, cerr, _ := handshake(t, srv, ClientConfig(nil, newCA, true))
	if cerr != nil {
		t.Fatalf("after reload, client trusting the new CA: %v", cerr)
	}
	want, _ := os.ReadFile(filepath.Join(next, NodeCertFile))
	if !bytes.Contains(want, certPEM(cs.PeerCertificates[0])[30:80]) {
		t.Error("server presented a certificate other than the reloaded one")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestGenerate(t *testing.T) {
	dir := generate(t)
	for _, f := range GeneratedFiles {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		secret := strings.HasSuffix(f, ".key")
		if secret && st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	peer := load(t, dir, PeerCertFile, PeerKeyFile, PeerCAFile)
	leaf := peer.Certificate().Leaf
	if leaf.NotAfter.Sub(leaf.NotBefore) > 366*24*time.Hour || len(leaf.IPAddresses) != 2 || len(leaf.DNSNames) != 2 {
		t.Errorf("peer cert: validity %v, IPs %v, DNS %v", leaf.NotAfter.Sub(leaf.NotBefore), leaf.IPAddresses, leaf.DNSNames)
	}
	// Nothing is overwritten, not even files that do not exist yet.
	os.Remove(filepath.Join(dir, GossipKeyFile))
	before, _ := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err := Generate(dir, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("Generate over existing files = %v, want ErrExists", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if !bytes.Equal(before, after) {
		t.Error("ca.key changed")
	}
	if _, err := os.Stat(filepath.Join(dir, GossipKeyFile)); err == nil {
		t.Error("gossip.key written although other files existed")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := generate(t)
	for _, tc := range []struct {
		name string
		f    Files
		want string
	}{
		{"half pair", Files{Cert: filepath.Join(dir, NodeCertFile)}, "go together"},
		{"nothing", Files{}, "no files"},
		{"missing CA", Files{CA: filepath.Join(dir, "nope.crt")}, "nope.crt"},
		{"key is no CA", Files{CA: filepath.Join(dir, NodeKeyFile)}, NodeKeyFile},
	} {
		if _, err := Load(tc.f); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Load = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
