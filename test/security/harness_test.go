package security_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/internal/freeport"
)

// Binaries built once by TestMain.
var (
	nodeBin string
	cliBin  string
)

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "flowmesh-security-test")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		nodeBin = filepath.Join(dir, "flowmesh-node")
		cliBin = filepath.Join(dir, "flowmesh")
		for _, b := range []struct{ out, pkg string }{{nodeBin, "../../cmd/node"}, {cliBin, "../../cmd/flowmesh"}} {
			if out, err := exec.Command("go", "build", "-o", b.out, b.pkg).CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", b.pkg, err, out)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// Secrets is what `certs init` and `token add` made for one test cluster.
type Secrets struct {
	Dir        string // certs init output
	TokenFile  string
	AdminToken string // cluster-admin
	T1Token    string // admin of tenant t1
	T2Token    string // admin of tenant t2
	T1Reader   string // read of tenant t1
}

// run runs a binary and fails the test unless it exits 0; it returns stdout.
func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", filepath.Base(bin), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// newToken adds a token to s.TokenFile and returns it.
func (s *Secrets) newToken(t *testing.T, subject string, grants ...string) string {
	t.Helper()
	args := []string{"token", "add", "--file", s.TokenFile, "--subject", subject}
	for _, g := range grants {
		args = append(args, "--grant", g)
	}
	out := strings.TrimSpace(run(t, nodeBin, args...))
	lines := strings.Split(out, "\n")
	tok := strings.TrimSpace(lines[len(lines)-1])
	if tok == "" {
		t.Fatalf("token add printed no token: %q", out)
	}
	return tok
}

// NewSecrets makes a CA, certificates, a gossip key and tokens.
func NewSecrets(t *testing.T) *Secrets {
	t.Helper()
	dir := t.TempDir()
	s := &Secrets{Dir: filepath.Join(dir, "tls"), TokenFile: filepath.Join(dir, "tokens")}
	run(t, nodeBin, "certs", "init", s.Dir)
	s.AdminToken = s.newToken(t, "ops", "cluster-admin")
	s.T1Token = s.newToken(t, "app1", "t1:admin")
	s.T2Token = s.newToken(t, "app2", "t2:admin")
	s.T1Reader = s.newToken(t, "dash1", "t1:read")
	return s
}

// CA is the pool of the client-facing CA.
func (s *Secrets) CA(t *testing.T) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(s.Dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("ca.crt holds no certificate")
	}
	return pool
}

// ClientTLS trusts the cluster's CA and presents no certificate.
func (s *Secrets) ClientTLS(t *testing.T) *tls.Config {
	return &tls.Config{RootCAs: s.CA(t), MinVersion: tls.VersionTLS12}
}

// Cluster is a set of node processes started by one test.
type Cluster struct {
	t       *testing.T
	dir     string
	Secrets *Secrets
	Nodes   []*Node
}

// Node is one flowmesh-node process.
type Node struct {
	ID, GRPCAddr, RaftAddr, GossipAddr, HTTPAddr string
	DataDir, LogPath                             string
	Args                                         []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// secureFlags are the flags of a node of a cluster secured by s.
func secureFlags(s *Secrets) []string {
	return []string{"--tls-dir", s.Dir, "--gossip-key-file", filepath.Join(s.Dir, "gossip.key"), "--auth-file", s.TokenFile}
}

// StartCluster starts n secured nodes (TLS, mTLS, gossip key, tokens)
// plus extra flags, and waits until all are ready.
func StartCluster(t *testing.T, n int, extra ...string) *Cluster {
	t.Helper()
	c := &Cluster{t: t, dir: t.TempDir(), Secrets: NewSecrets(t)}
	for k := 1; k <= n; k++ {
		c.Nodes = append(c.Nodes, c.newNode(fmt.Sprintf("node%d", k)))
	}
	for _, nd := range c.Nodes {
		var join []string
		for _, o := range c.Nodes {
			if o != nd {
				join = append(join, o.GossipAddr)
			}
		}
		nd.Args = append(nd.Args, "--bootstrap-expect", fmt.Sprint(n), "--join", strings.Join(join, ","))
		nd.Args = append(nd.Args, secureFlags(c.Secrets)...)
		nd.Args = append(nd.Args, extra...)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, nd := range c.Nodes {
				nd.dumpLog(t)
			}
		}
		for _, nd := range c.Nodes {
			nd.Kill()
		}
	})
	for _, nd := range c.Nodes {
		nd.Start(t)
	}
	for _, nd := range c.Nodes {
		c.WaitReady(nd, 60*time.Second)
	}
	return c
}

func (c *Cluster) newNode(id string) *Node {
	nd := &Node{
		ID: id, GRPCAddr: freeport.Addr(c.t), RaftAddr: freeport.Addr(c.t),
		GossipAddr: freeport.Addr(c.t), HTTPAddr: freeport.Addr(c.t),
		DataDir: filepath.Join(c.dir, id), LogPath: filepath.Join(c.dir, id+".log"),
	}
	nd.Args = []string{"--id", id, "--data-dir", nd.DataDir, "--grpc-addr", nd.GRPCAddr,
		"--raft-addr", nd.RaftAddr, "--gossip-addr", nd.GossipAddr, "--http-addr", nd.HTTPAddr,
		"--shutdown-timeout", "5s"}
	return nd
}

// Start starts the node's process.
func (nd *Node) Start(t *testing.T) {
	t.Helper()
	nd.mu.Lock()
	defer nd.mu.Unlock()
	logf, err := os.OpenFile(nd.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nodeBin, nd.Args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("%s: start: %v", nd.ID, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	nd.cmd, nd.exited = cmd, exited
}

// Running reports whether the process runs.
func (nd *Node) Running() bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil {
		return false
	}
	select {
	case <-nd.exited:
		return false
	default:
		return true
	}
}

// Kill SIGKILLs the node and waits until it is gone.
func (nd *Node) Kill() {
	nd.mu.Lock()
	cmd, exited := nd.cmd, nd.exited
	nd.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
	}
}

// Log returns the node's log.
func (nd *Node) Log() string {
	b, _ := os.ReadFile(nd.LogPath)
	return string(b)
}

func (nd *Node) dumpLog(t *testing.T) {
	lines := strings.Split(strings.TrimRight(nd.Log(), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	t.Logf("--- %s log (last %d lines)\n%s", nd.ID, len(lines), strings.Join(lines, "\n"))
}

// HTTPS is a client of the nodes' admin ports.
func (c *Cluster) HTTPS() *http.Client {
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: c.Secrets.ClientTLS(c.t)}}
}

// Ready reports whether nd's /readyz answers 200 over TLS.
func (c *Cluster) Ready(nd *Node) bool {
	resp, err := c.HTTPS().Get("https://" + nd.HTTPAddr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// WaitReady waits until nd is ready; it fails the test if the process exits
// or timeout passes.
func (c *Cluster) WaitReady(nd *Node, timeout time.Duration) {
	c.t.Helper()
	eventually(c.t, timeout, nd.ID+" ready", func() error {
		if !nd.Running() {
			c.t.Fatalf("%s exited before it was ready", nd.ID)
		}
		if !c.Ready(nd) {
			return fmt.Errorf("/readyz is not 200")
		}
		return nil
	})
}

// Endpoints are the nodes' gRPC addresses.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, nd := range c.Nodes {
		out = append(out, nd.GRPCAddr)
	}
	return out
}

// Client is an SDK client over TLS with token, closed at cleanup.
func (c *Cluster) Client(token string, endpoints ...string) *client.Client {
	c.t.Helper()
	if len(endpoints) == 0 {
		endpoints = c.Endpoints()
	}
	cl, err := client.New(client.Config{Endpoints: endpoints, TLS: c.Secrets.ClientTLS(c.t), Token: token, MaxRetries: 3})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// Conn is a raw gRPC connection to nd over TLS (no token: add one per call
// with withToken).
func (c *Cluster) Conn(nd *Node) *grpc.ClientConn {
	c.t.Helper()
	cc, err := grpc.NewClient(nd.GRPCAddr, grpc.WithTransportCredentials(credentials.NewTLS(c.Secrets.ClientTLS(c.t))))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cc.Close() })
	return cc
}

// PlainConn is a gRPC connection without TLS.
func PlainConn(t *testing.T, addr string) *grpc.ClientConn {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func withToken(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// Leader returns the node the cluster agrees leads.
func (c *Cluster) Leader() *Node {
	c.t.Helper()
	cl := c.Client(c.Secrets.AdminToken)
	var leader *Node
	eventually(c.t, 30*time.Second, "a leader", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := cl.Status(ctx)
		if err != nil {
			return err
		}
		for _, nd := range c.Nodes {
			if nd.ID == st.LeaderID {
				leader = nd
				return nil
			}
		}
		return fmt.Errorf("leader %q unknown", st.LeaderID)
	})
	return leader
}

// Followers returns the nodes other than the leader.
func (c *Cluster) Followers() []*Node {
	l := c.Leader()
	var out []*Node
	for _, nd := range c.Nodes {
		if nd != l {
			out = append(out, nd)
		}
	}
	return out
}

// eventually retries f every 100ms until it returns nil or timeout passes,
// then fails the test with f's last error.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// snapshotInfo describes an uploaded snapshot of n bytes.
func snapshotInfo(n int) client.SnapshotInfo {
	return client.SnapshotInfo{Size: int64(n), Index: 1, Term: 1, Version: 1}
}
