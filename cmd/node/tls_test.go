package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/internal/auth"
	"github.com/flowmesh/flowmesh/internal/certs"
	"github.com/flowmesh/flowmesh/internal/freeport"
)

// certsInit runs "certs init" as a user would and returns the directory.
func certsInit(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tls")
	var out bytes.Buffer
	if code := run(t.Context(), []string{"certs", "init", dir, "--hosts", "node1.example,10.1.2.3"}, func(string) string { return "" }, &out); code != 0 {
		t.Fatalf("certs init: exit %d: %s", code, out.String())
	}
	if !strings.Contains(out.String(), "--tls-dir "+dir) {
		t.Errorf("certs init output lacks the flags to use:\n%s", out.String())
	}
	return dir
}

func TestCertsInit(t *testing.T) {
	dir := certsInit(t)
	for _, f := range certs.GeneratedFiles {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	var out bytes.Buffer
	if code := run(t.Context(), []string{"certs", "init", dir}, func(string) string { return "" }, &out); code != 2 || !strings.Contains(out.String(), "not overwriting") {
		t.Errorf("certs init over existing files: exit %d, %q; want 2 and a message", code, out.String())
	}
	out.Reset()
	if code := run(t.Context(), []string{"certs", "init", dir, "--if-missing"}, func(string) string { return "" }, &out); code != 0 || !strings.Contains(out.String(), "keeping") {
		t.Errorf("certs init --if-missing over a CA: exit %d, %q; want 0, keeping it", code, out.String())
	}
	// The auth file makes the admin client certificate cluster-admin, and
	// --tls-dir turns authentication on with it.
	store, err := auth.Open(filepath.Join(dir, authFileName))
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := store.Cert(certs.ClientCN); !ok || !id.IsClusterAdmin() || store.Len() != 1 {
		t.Errorf("auth file: Cert(%s) = %+v, %v, %d entries; want cluster-admin, one entry", certs.ClientCN, id, ok, store.Len())
	}
	c, err := parseConfig([]string{"--tls-dir", dir}, func(string) string { return "" }, io.Discard)
	if err != nil || c.AuthFile != filepath.Join(dir, authFileName) {
		t.Errorf("--tls-dir: auth file %q, %v; want %s", c.AuthFile, err, filepath.Join(dir, authFileName))
	}
	if c, err := parseConfig([]string{"--tls-dir", dir, "--auth-file", "/x"}, func(string) string { return "" }, io.Discard); err != nil || c.AuthFile != "/x" {
		t.Errorf("--tls-dir with --auth-file: %q, %v; want the explicit file", c.AuthFile, err)
	}
	for _, args := range [][]string{{"certs"}, {"certs", "init"}, {"certs", "init", "a", "b"}, {"certs", "rotate", dir}} {
		if code := run(t.Context(), args, func(string) string { return "" }, io.Discard); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

func TestParseConfigTLS(t *testing.T) {
	dir := certsInit(t)
	noenv := func(string) string { return "" }
	c, err := parseConfig([]string{"--tls-dir", dir, "--cert-file", filepath.Join(dir, certs.PeerCertFile)}, noenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"cert-file (explicit wins)", c.CertFile, filepath.Join(dir, certs.PeerCertFile)},
		{"key-file", c.KeyFile, filepath.Join(dir, certs.NodeKeyFile)},
		{"trusted-ca-file", c.TrustedCAFile, filepath.Join(dir, certs.CAFile)},
		{"peer-cert-file", c.PeerCertFile, filepath.Join(dir, certs.PeerCertFile)},
		{"peer-key-file", c.PeerKeyFile, filepath.Join(dir, certs.PeerKeyFile)},
		{"peer-trusted-ca-file", c.PeerTrustedCAFile, filepath.Join(dir, certs.PeerCAFile)},
		{"gossip-key-file", c.GossipKeyFile, filepath.Join(dir, certs.GossipKeyFile)},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if len(c.gossipKey) != 32 {
		t.Errorf("gossip key from the tls dir: %d bytes, want 32", len(c.gossipKey))
	}
	// A gossip key from the environment wins over the dir's file.
	env := map[string]string{"FLOWMESH_GOSSIP_KEY": "MDEyMzQ1Njc4OWFiY2RlZg==", "FLOWMESH_TLS_DIR": dir}
	if c, err = parseConfig(nil, func(k string) string { return env[k] }, io.Discard); err != nil || string(c.gossipKey) != "0123456789abcdef" || c.GossipKeyFile != "" {
		t.Errorf("FLOWMESH_GOSSIP_KEY with FLOWMESH_TLS_DIR: key %q, file %q, %v", c.gossipKey, c.GossipKeyFile, err)
	}

	key := filepath.Join(dir, certs.GossipKeyFile)
	for _, tc := range []struct {
		args []string
		want []string // every problem is reported
	}{
		{[]string{"--cert-file", filepath.Join(dir, certs.NodeCertFile)}, []string{"[--cert-file] given without [--key-file --trusted-ca-file]"}},
		{[]string{"--peer-key-file", filepath.Join(dir, certs.PeerKeyFile), "--key-file", "/nope/node.key"},
			[]string{"[--peer-key-file] given without [--peer-cert-file --peer-trusted-ca-file]", "--key-file: stat /nope/node.key"}},
		{[]string{"--tls-dir", "/does/not/exist"}, []string{"--tls-dir: stat /does/not/exist", "--cert-file: stat /does/not/exist/node.crt", "--gossip-key-file"}},
		{[]string{"--peer-cert-file", filepath.Join(dir, certs.PeerCertFile), "--peer-key-file", filepath.Join(dir, certs.PeerKeyFile), "--peer-trusted-ca-file", filepath.Join(dir, certs.PeerCAFile)},
			[]string{"peer TLS needs a gossip key"}},
		{[]string{"--tls-dir", dir, "--gossip-key", "MDEyMzQ1Njc4OWFiY2RlZg==", "--gossip-key-file", key}, []string{"give one"}},
		{[]string{"--gossip-key-file", filepath.Join(dir, certs.CAFile)}, []string{"--gossip-key-file " + filepath.Join(dir, certs.CAFile) + ": not base64"}},
	} {
		_, err := parseConfig(tc.args, noenv, io.Discard)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("parseConfig(%q) = %v, want an error containing %q", tc.args, err, w)
			}
		}
	}
	// The key never appears in an error.
	b, _ := os.ReadFile(key)
	bad := filepath.Join(t.TempDir(), "short.key")
	os.WriteFile(bad, []byte("c2hvcnQ=\n"), 0o600)
	if _, err := parseConfig([]string{"--gossip-key-file", bad}, noenv, io.Discard); err == nil || strings.Contains(err.Error(), "c2hvcnQ") || bytes.Contains([]byte(err.Error()), bytes.TrimSpace(b)) {
		t.Errorf("short key file: %v; want an error without the key", err)
	}
}

// tlsClients returns a client config trusting dir's CA and presenting its
// admin client certificate, and an HTTP client with it.
func tlsClients(t *testing.T, dir string) (*tls.Config, *http.Client) {
	t.Helper()
	src, err := certs.Load(certs.Files{Cert: filepath.Join(dir, certs.ClientCertFile), Key: filepath.Join(dir, certs.ClientKeyFile), CA: filepath.Join(dir, certs.CAFile)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := certs.ClientConfig(src, src, true)
	return cfg, &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
}

// TestNodeTLS runs a node with --tls-dir from certs init: gRPC and HTTP
// admin serve TLS only, and a replaced certificate is served after SIGHUP.
func TestNodeTLS(t *testing.T) {
	ctx := context.Background()
	dir := certsInit(t)
	tlsCfg, hc := tlsClients(t, dir)
	p := startNodeWith(t, t.TempDir(), "https", hc, "--tls-dir", dir, "--log-level", "info")

	c, err := client.New(client.Config{Endpoints: []string{p.grpcAddr}, TLS: tlsCfg, RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateKVStore(ctx, "t1", "ns1", "cfg"); err != nil {
		t.Fatalf("TLS client: %v", err)
	}

	// Client certificates are optional: the CA alone completes the
	// handshake, and the node (with the auth file certs init wrote, which
	// --tls-dir turns on) asks for a credential.
	caOnly, err := certs.Load(certs.Files{CA: filepath.Join(dir, certs.CAFile)})
	if err != nil {
		t.Fatal(err)
	}
	anon, err := client.New(client.Config{Endpoints: []string{p.grpcAddr}, TLS: certs.ClientConfig(nil, caOnly, true), RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if _, err := anon.CreateKVStore(ctx, "t1", "ns1", "anon"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("TLS client without a certificate: %v, want Unauthenticated", err)
	}

	plain, err := client.New(client.Config{Endpoints: []string{p.grpcAddr}, RequestTimeout: 2 * time.Second, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.CreateKVStore(ctx, "t1", "ns1", "other"); err == nil {
		t.Fatal("a plaintext client was served by a TLS node")
	}
	if resp, err := http.Get("http://" + p.httpAddr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("HTTP admin answered plain HTTP")
		}
	}
	if got := httpsGet(t, hc, "https://"+p.httpAddr+"/healthz"); got != "ok\n" {
		t.Errorf("/healthz over TLS = %q", got)
	}

	// Replace the node's certificate and CA with a fresh set, then SIGHUP:
	// new connections must present the new certificate.
	next := certsInit(t)
	for _, f := range []string{certs.NodeCertFile, certs.NodeKeyFile, certs.CAFile} {
		b, err := os.ReadFile(filepath.Join(next, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	newCert, _ := os.ReadFile(filepath.Join(next, certs.NodeCertFile))
	blk, _ := pem.Decode(newCert)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := tls.Dial("tcp", p.grpcAddr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
		if err == nil {
			got := conn.ConnectionState().PeerCertificates[0].Raw
			conn.Close()
			if bytes.Equal(got, blk.Bytes) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node still serves the old certificate 10s after SIGHUP (dial error %v)\n%s", err, p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The node logs the reload just after the new material is in use.
	for !strings.Contains(p.logs.String(), `msg="SIGHUP: reloaded" what="TLS certificates and CAs"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no reload logged:\n%s", p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, hcNew := tlsClients(t, next)
	if got := httpsGet(t, hcNew, "https://"+p.httpAddr+"/healthz"); got != "ok\n" {
		t.Errorf("/healthz with the new CA = %q", got)
	}

	// A broken file: the reload fails, is logged, and the node keeps serving.
	os.WriteFile(filepath.Join(dir, certs.NodeKeyFile), []byte("garbage"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	for !strings.Contains(p.logs.String(), `msg="SIGHUP: reload failed; keeping the previous one" what="TLS certificates and CAs"`) {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("failed reload not logged:\n%s", p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := httpsGet(t, hcNew, "https://"+p.httpAddr+"/healthz"); got != "ok\n" {
		t.Errorf("/healthz after a failed reload = %q", got)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
}

func httpsGet(t *testing.T, hc *http.Client, url string) string {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestNodeTLSCluster: two nodes started with the same --tls-dir form a
// cluster (gossip with the key, raft over mTLS) and a follower forwards a
// write to the leader over TLS with its peer certificate; a node from
// another certs init (other CAs, other gossip key) that joins is never
// seen as a member.
func TestNodeTLSCluster(t *testing.T) {
	ctx := context.Background()
	dir := certsInit(t)
	tlsCfg, hc := tlsClients(t, dir)
	a := startNodeWith(t, t.TempDir(), "https", hc, "--tls-dir", dir)
	b := startNodeWith(t, t.TempDir(), "https", hc, "--tls-dir", dir, "--join", a.gossipAddr)

	c, err := client.New(client.Config{Endpoints: []string{b.grpcAddr}, TLS: tlsCfg, Pinned: true, RequestTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateKVStore(ctx, "t1", "ns1", "kv"); err != nil {
		t.Fatalf("write through the follower: %v\nleader logs:\n%s", err, a.logs.String())
	}
	if _, err := c.Put(ctx, "t1/ns1/kv", "k", []byte("v"), flowmesh.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	if e, err := c.Get(ctx, "t1/ns1/kv", "k"); err != nil || string(e.Value) != "v" {
		t.Fatalf("Get through the follower = %q, %v", e.Value, err)
	}

	rogueDir := certsInit(t)
	_, rogueHC := tlsClients(t, rogueDir)
	r := startRogue(t, rogueDir, a.gossipAddr)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		ms, err := c.Members(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 2 {
			t.Fatalf("members %+v: want the two real nodes only", ms)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if resp, err := rogueHC.Get("https://" + r + "/readyz"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("rogue node is ready (part of a cluster): %s", body)
		}
	}
}

// startRogue starts a node with dir's files joining gossipAddr and returns
// its HTTP address without waiting for it.
func startRogue(t *testing.T, dir, gossipAddr string) string {
	t.Helper()
	httpAddr := freeport.Addr(t)
	logs := &syncBuffer{}
	cmd := exec.Command(nodeBinary(t), "--data-dir", t.TempDir(), "--grpc-addr", freeport.Addr(t), "--http-addr", httpAddr,
		"--raft-addr", freeport.Addr(t), "--gossip-addr", freeport.Addr(t), "--tls-dir", dir, "--join", gossipAddr)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("rogue logs:\n%s", logs.String())
		}
	})
	return httpAddr
}

// TestRunBadCertificateExit2: files that exist but do not parse, or a key
// that does not match its certificate, stop the node before it starts.
func TestRunBadCertificateExit2(t *testing.T) {
	dir := certsInit(t)
	if err := os.WriteFile(filepath.Join(dir, certs.NodeKeyFile), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := run(t.Context(), []string{"--tls-dir", dir, "--data-dir", t.TempDir()}, func(string) string { return "" }, &out)
	if code != 2 || !strings.Contains(out.String(), certs.NodeKeyFile) {
		t.Errorf("exit %d, %q; want 2 and a message naming %s", code, out.String(), certs.NodeKeyFile)
	}
}
