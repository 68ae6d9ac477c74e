package rpc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/flowmesh/flowmesh/internal/auth"
	"github.com/flowmesh/flowmesh/rpc"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/rpctest"
)

// testCA signs certificates for the mTLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue makes a certificate for cn usable as client and as server on
// 127.0.0.1.
func (ca *testCA) issue(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// pki is a cluster's certificates: clients and nodes have separate CAs.
type pki struct {
	clientCA, peerCA *testCA
	server           tls.Certificate
}

func newPKI(t *testing.T) *pki {
	p := &pki{clientCA: newCA(t, "client-ca"), peerCA: newCA(t, "peer-ca")}
	p.server = p.peerCA.issue(t, "node")
	return p
}

// serverConfig sets TLS with optional client certificates from either CA
// and forwarding with the node's peer certificate.
func (p *pki) serverConfig(c *rpc.Config) {
	both := x509.NewCertPool()
	both.AddCert(p.clientCA.cert)
	both.AddCert(p.peerCA.cert)
	c.ServerOptions = append(c.ServerOptions, grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{p.server}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: both})))
	c.PeerCAs = func() *x509.CertPool { return p.peerCA.pool }
	c.ForwardDialOptions = append(c.ForwardDialOptions, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{p.server}, RootCAs: p.peerCA.pool})))
}

// dialTLS dials addr presenting cert (none when nil).
func (p *pki) dialTLS(t *testing.T, addr string, cert *tls.Certificate) *grpc.ClientConn {
	t.Helper()
	cfg := &tls.Config{RootCAs: p.peerCA.pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// TestAuthByCertificate: a client certificate's CN names a "cert" entry;
// only a peer certificate may assert a subject, and one asserting none is
// a node.
func TestAuthByCertificate(t *testing.T) {
	k := newTokens(t)
	if err := appendLine(k.store.Path(), "certapp cert t1:admin\n"); err != nil {
		t.Fatal(err)
	}
	if err := k.store.Reload(); err != nil {
		t.Fatal(err)
	}
	p := newPKI(t)
	n := startNodeWith(t, func(c *rpc.Config) { c.Auth = k.store; p.serverConfig(c) })
	ctx := ctxFor(t)
	appCert := p.clientCA.issue(t, "certapp")
	strangerCert := p.clientCA.issue(t, "stranger")
	peerCert := p.peerCA.issue(t, "node-2")
	assert := func(subject string) context.Context {
		return metadata.AppendToOutgoingContext(ctx, rpc.MetadataSubject, subject)
	}
	create := func(cc *grpc.ClientConn, c context.Context, tenant, name string) error {
		_, err := pb.NewResourceServiceClient(cc).CreateKVStore(c, &pb.CreateKVStoreRequest{Tenant: tenant, Namespace: "ns", Name: name})
		return err
	}
	app, stranger, peer, none := p.dialTLS(t, n.addr, &appCert), p.dialTLS(t, n.addr, &strangerCert), p.dialTLS(t, n.addr, &peerCert), p.dialTLS(t, n.addr, nil)

	if err := create(app, ctx, "t1", "a"); err != nil {
		t.Errorf("client cert CN certapp in t1: %v", err)
	}
	wantCode(t, "client cert CN certapp in t2", create(app, ctx, "t2", "a"), codes.PermissionDenied)
	wantCode(t, "client cert asserting root", create(app, assert("root"), "t2", "b"), codes.Unauthenticated)
	wantCode(t, "client cert without an entry", create(stranger, ctx, "t1", "c"), codes.Unauthenticated)
	wantCode(t, "TLS without a certificate", create(none, ctx, "t1", "d"), codes.Unauthenticated)
	if err := create(peer, ctx, "t2", "e"); err != nil {
		t.Errorf("peer cert (a node) in t2: %v", err)
	}
	if err := create(peer, assert("certapp"), "t1", "f"); err != nil {
		t.Errorf("peer cert asserting certapp in t1: %v", err)
	}
	wantCode(t, "peer cert asserting certapp in t2", create(peer, assert("certapp"), "t2", "g"), codes.PermissionDenied)
	wantCode(t, "peer cert asserting an unknown subject", create(peer, assert("nobody"), "t1", "h"), codes.Unauthenticated)
}

// TestForwardAssertsCertSubject: a client known by its certificate calls a
// follower of a TLS cluster; the leader must judge the call as that
// subject, asserted by the follower, not as the node that forwards it. The
// followers' token files grant certapp more than the leader's, so a call
// the leader refuses proves it saw the subject.
func TestForwardAssertsCertSubject(t *testing.T) {
	dir := t.TempDir()
	var stores []*auth.Store
	storeFor := func() *auth.Store {
		path := filepath.Join(dir, fmt.Sprint("tokens", len(stores)))
		if err := os.WriteFile(path, []byte("certapp cert t1:admin,t3:admin\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := auth.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
		return s
	}
	p := newPKI(t)
	nodes := rpctest.StartClusterWith(t, 3, nil, func(c *rpc.Config) { c.Auth = storeFor(); p.serverConfig(c) })
	leader := rpctest.Leader(t, nodes)
	for i, n := range nodes {
		if n == leader {
			if err := os.WriteFile(stores[i].Path(), []byte("certapp cert t1:admin\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := stores[i].Reload(); err != nil {
				t.Fatal(err)
			}
		}
	}
	fol := rpctest.Followers(nodes, leader)[0]
	appCert := p.clientCA.issue(t, "certapp")
	cc := p.dialTLS(t, fol.Addr, &appCert)
	ctx := ctxFor(t)
	var hdr metadata.MD
	if _, err := pb.NewResourceServiceClient(cc).CreateKVStore(ctx, &pb.CreateKVStoreRequest{Tenant: "t1", Namespace: "ns", Name: "kv"}, grpc.Header(&hdr)); err != nil {
		t.Fatalf("create through a follower by certificate: %v", err)
	}
	if len(hdr.Get(rpc.MetadataLeader)) == 0 {
		t.Error("the create was not forwarded")
	}
	_, err := pb.NewResourceServiceClient(cc).CreateKVStore(ctx, &pb.CreateKVStoreRequest{Tenant: "t3", Namespace: "ns", Name: "kv"})
	wantCode(t, "certapp in t3 (granted by the follower, not by the leader)", err, codes.PermissionDenied)
	_, err = pb.NewResourceServiceClient(cc).CreateKVStore(ctx, &pb.CreateKVStoreRequest{Tenant: "t2", Namespace: "ns", Name: "kv"})
	wantCode(t, "certapp in t2 through a follower", err, codes.PermissionDenied)
}
