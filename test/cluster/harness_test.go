package cluster_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
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

	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/internal/certs"
	"github.com/flowmesh/flowmesh/internal/freeport"
)

// Binaries built once by TestMain.
var (
	nodeBin string
	cliBin  string
)

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "flowmesh-cluster-test")
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

// slow skips t with -short or FLOWMESH_CLUSTER_TESTS=0: the tests that
// kill, pause and restart nodes under load take about a minute together.
func slow(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short")
	}
	if os.Getenv("FLOWMESH_CLUSTER_TESTS") == "0" {
		t.Skip("FLOWMESH_CLUSTER_TESTS=0")
	}
}

// nodeHasFlag reports whether flowmesh-node accepts --name.
func nodeHasFlag(name string) bool {
	out, _ := exec.Command(nodeBin, "--help").CombinedOutput()
	return bytes.Contains(out, []byte("-"+name+" "))
}

// Cluster is a set of node processes started by one test.
type Cluster struct {
	t      *testing.T
	dir    string
	expect int
	extra  []string // flags every node gets
	Nodes  []*Node

	// TLSDir is what `flowmesh-node certs init` wrote for this cluster
	// ("" for a plaintext cluster): every node runs with --tls-dir TLSDir,
	// and every client of the harness trusts its CA and presents its admin
	// client certificate, which DIR/auth makes cluster-admin.
	TLSDir    string
	clientTLS *tls.Config // nil for plaintext
	https     *http.Client
}

// ClusterOptions say how StartClusterWith starts a cluster.
type ClusterOptions struct {
	Nodes int      // started with --bootstrap-expect Nodes
	Flags []string // flags every node gets
	// Plaintext runs the nodes without TLS and authentication (the open
	// mode) and the harness's clients without credentials. The default is
	// the secure setup the README tells users to run.
	Plaintext bool
}

// plaintextFromEnv reports whether FLOWMESH_INSECURE asks for plaintext
// clusters, as it does of scripts/cluster.sh: a way to compare the two,
// e.g. FLOWMESH_INSECURE=1 scripts/failover-bench.sh.
func plaintextFromEnv() bool {
	v := os.Getenv("FLOWMESH_INSECURE")
	return v != "" && v != "0"
}

// Node is one flowmesh-node process (or its ports and data while stopped).
type Node struct {
	ID         string
	GRPCAddr   string
	RaftAddr   string
	GossipAddr string
	HTTPAddr   string
	DataDir    string
	LogPath    string
	Join       []string // gossip addresses it joins
	Extra      []string // flags of this node only

	c      *Cluster
	mu     sync.Mutex
	Cmd    *exec.Cmd
	exited chan struct{}
	paused bool
	cl     *client.Client
	conn   *grpc.ClientConn
}

// StartCluster starts n secure nodes (TLS, mutual TLS between nodes, the
// gossip key, authentication) with --bootstrap-expect n, each joining the
// others, plus the given flags, and waits until all are ready.
// FLOWMESH_INSECURE=1 makes it plaintext.
func StartCluster(t *testing.T, n int, flags ...string) *Cluster {
	t.Helper()
	return StartClusterWith(t, ClusterOptions{Nodes: n, Flags: flags, Plaintext: plaintextFromEnv()})
}

// StartClusterWith starts a cluster as o says and waits until all its
// nodes are ready.
func StartClusterWith(t *testing.T, o ClusterOptions) *Cluster {
	t.Helper()
	n := o.Nodes
	c := &Cluster{t: t, dir: t.TempDir(), expect: n, extra: o.Flags, https: &http.Client{Timeout: time.Second}}
	if !o.Plaintext {
		c.initTLS()
	}
	t.Logf("cluster of %d nodes, %s", n, c.mode())
	for range n {
		c.newNode()
	}
	for _, nd := range c.Nodes {
		for _, o := range c.Nodes {
			if o != nd {
				nd.Join = append(nd.Join, o.GossipAddr)
			}
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs()
		}
		for _, nd := range c.Nodes {
			nd.Kill()
			nd.closeClient()
		}
	})
	for _, nd := range c.Nodes {
		nd.Start()
	}
	c.WaitReady(60 * time.Second)
	return c
}

// initTLS runs `flowmesh-node certs init DIR --hosts 127.0.0.1` and loads
// the CA and the admin client certificate for the harness's clients.
func (c *Cluster) initTLS() {
	c.t.Helper()
	dir := filepath.Join(c.dir, "tls")
	cmd := exec.Command(nodeBin, "certs", "init", dir, "--hosts", "127.0.0.1")
	cmd.Env = env()
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("certs init: %v\n%s", err, out)
	}
	pem, err := os.ReadFile(filepath.Join(dir, certs.CAFile))
	if err != nil {
		c.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		c.t.Fatalf("%s holds no certificate", certs.CAFile)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, certs.ClientCertFile), filepath.Join(dir, certs.ClientKeyFile))
	if err != nil {
		c.t.Fatal(err)
	}
	c.TLSDir = dir
	c.clientTLS = &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	// Keep-alives off: a poll of a killed or paused node must not wait
	// on a connection made before.
	c.https.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, DisableKeepAlives: true}
}

func (c *Cluster) mode() string {
	if c.clientTLS == nil {
		return "plaintext and open (no TLS, no authentication)"
	}
	return "secure (--tls-dir " + c.TLSDir + ")"
}

// TLS returns the harness's client TLS config (the cluster's CA and the
// cluster-admin client certificate), or nil for a plaintext cluster.
func (c *Cluster) TLS() *tls.Config {
	if c.clientTLS == nil {
		return nil
	}
	return c.clientTLS.Clone()
}

// Config completes cfg with the cluster's endpoints (if it has none) and
// credentials (if it has no TLS config).
func (c *Cluster) Config(cfg client.Config) client.Config {
	if len(cfg.Endpoints) == 0 {
		cfg.Endpoints = c.Endpoints()
	}
	if cfg.TLS == nil {
		cfg.TLS = c.TLS()
	}
	return cfg
}

// dialCreds are the transport credentials of a raw gRPC connection.
func (c *Cluster) dialCreds() credentials.TransportCredentials {
	if c.clientTLS == nil {
		return insecure.NewCredentials()
	}
	return credentials.NewTLS(c.TLS())
}

// cliFlags are the CLI's credential flags.
func (c *Cluster) cliFlags() []string {
	if c.TLSDir == "" {
		return nil
	}
	return []string{
		"--cacert", filepath.Join(c.TLSDir, certs.CAFile),
		"--cert", filepath.Join(c.TLSDir, certs.ClientCertFile),
		"--key", filepath.Join(c.TLSDir, certs.ClientKeyFile),
	}
}

// env is the environment of the processes the harness starts: ours less
// FLOWMESH_* settings, which the node and the CLI read as flags, so a
// developer's shell (say, `eval "$(scripts/cluster.sh env)"`) does not
// change what a test runs.
func env() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FLOWMESH_") {
			out = append(out, kv)
		}
	}
	return out
}

// newNode allocates the ports and directories of one more node.
func (c *Cluster) newNode() *Node {
	k := len(c.Nodes) + 1
	nd := &Node{
		ID:         fmt.Sprintf("node%d", k),
		GRPCAddr:   freeport.Addr(c.t),
		RaftAddr:   freeport.Addr(c.t),
		GossipAddr: freeport.Addr(c.t),
		HTTPAddr:   freeport.Addr(c.t),
		DataDir:    filepath.Join(c.dir, fmt.Sprintf("node%d", k)),
		LogPath:    filepath.Join(c.dir, fmt.Sprintf("node%d.log", k)),
		c:          c,
	}
	c.Nodes = append(c.Nodes, nd)
	return nd
}

// AddNode starts one more node that joins every current node and waits
// until it is ready.
func (c *Cluster) AddNode(flags ...string) *Node {
	c.t.Helper()
	nd := c.newNode()
	nd.Extra = flags
	for _, o := range c.Nodes[:len(c.Nodes)-1] {
		nd.Join = append(nd.Join, o.GossipAddr)
	}
	nd.Start()
	nd.WaitReady(60 * time.Second)
	return nd
}

func (c *Cluster) dumpLogs() {
	for _, nd := range c.Nodes {
		b, _ := os.ReadFile(nd.LogPath)
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		c.t.Logf("--- %s log (last %d lines, %s)\n%s", nd.ID, len(lines), nd.LogPath, strings.Join(lines, "\n"))
	}
}

// Endpoints returns the gRPC addresses of all nodes.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, nd := range c.Nodes {
		out = append(out, nd.GRPCAddr)
	}
	return out
}

// Running returns the nodes whose process runs and is not paused.
func (c *Cluster) Running() []*Node {
	var out []*Node
	for _, nd := range c.Nodes {
		if nd.Running() && !nd.Paused() {
			out = append(out, nd)
		}
	}
	return out
}

// WaitReady waits until every running node's /readyz answers 200.
func (c *Cluster) WaitReady(timeout time.Duration) {
	c.t.Helper()
	for _, nd := range c.Running() {
		nd.WaitReady(timeout)
	}
}

// Leader waits until the running nodes agree on a leader among them and
// returns its index in c.Nodes.
func (c *Cluster) Leader(timeout time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if i, ok := c.leader(); ok {
			return i
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no leader agreed on within %v", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *Cluster) leader() (int, bool) {
	ids := map[string]bool{}
	for _, nd := range c.Running() {
		st, err := nd.Status(2 * time.Second)
		if err != nil || st.LeaderID == "" {
			return -1, false
		}
		ids[st.LeaderID] = true
	}
	if len(ids) != 1 {
		return -1, false
	}
	for i, nd := range c.Nodes {
		if ids[nd.ID] && nd.Running() && !nd.Paused() {
			if st, err := nd.Status(2 * time.Second); err == nil && st.Role == "leader" {
				return i, true
			}
		}
	}
	return -1, false
}

// Client returns an SDK client for all nodes (or cfg.Endpoints), with the
// cluster's credentials, closed at cleanup.
func (c *Cluster) Client(cfg client.Config) *client.Client {
	c.t.Helper()
	cl, err := client.New(c.Config(cfg))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// CLI runs the flowmesh CLI against the running nodes and returns its
// combined output.
func (c *Cluster) CLI(args ...string) (string, error) {
	var eps []string
	for _, nd := range c.Running() {
		eps = append(eps, nd.GRPCAddr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := append([]string{"--endpoints", strings.Join(eps, ","), "--timeout", "20s"}, c.cliFlags()...)
	cmd := exec.CommandContext(ctx, cliBin, append(a, args...)...)
	cmd.Env = env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// args are the node's command-line flags.
func (nd *Node) args() []string {
	a := []string{
		"--id", nd.ID,
		"--data-dir", nd.DataDir,
		"--grpc-addr", nd.GRPCAddr,
		"--raft-addr", nd.RaftAddr,
		"--gossip-addr", nd.GossipAddr,
		"--http-addr", nd.HTTPAddr,
		"--shutdown-timeout", "5s",
	}
	if nd.c.expect > 1 {
		a = append(a, "--bootstrap-expect", fmt.Sprint(nd.c.expect))
	}
	if len(nd.Join) > 0 {
		a = append(a, "--join", strings.Join(nd.Join, ","))
	}
	if nd.c.TLSDir != "" {
		a = append(a, "--tls-dir", nd.c.TLSDir)
	}
	a = append(a, nd.c.extra...)
	return append(a, nd.Extra...)
}

// Start starts the node's process (again) on its ports and data dir; it
// does not wait for readiness.
func (nd *Node) Start() {
	t := nd.c.t
	t.Helper()
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.Cmd != nil {
		select {
		case <-nd.exited:
		default:
			t.Fatalf("%s: Start while running", nd.ID)
		}
	}
	logf, err := os.OpenFile(nd.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== start %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(nd.args(), " "))
	cmd := exec.Command(nodeBin, nd.args()...)
	cmd.Env = env()
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
	nd.Cmd, nd.exited, nd.paused = cmd, exited, false
}

// Running reports whether the process runs (paused or not).
func (nd *Node) Running() bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.Cmd == nil {
		return false
	}
	select {
	case <-nd.exited:
		return false
	default:
		return true
	}
}

// Paused reports whether the process is stopped with SIGSTOP.
func (nd *Node) Paused() bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.paused
}

func (nd *Node) signal(sig syscall.Signal) bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.Cmd == nil {
		return false
	}
	select {
	case <-nd.exited:
		return false
	default:
	}
	if nd.paused && sig != syscall.SIGCONT {
		nd.Cmd.Process.Signal(syscall.SIGCONT)
		nd.paused = false
	}
	nd.Cmd.Process.Signal(sig)
	switch sig {
	case syscall.SIGSTOP:
		nd.paused = true
	case syscall.SIGCONT:
		nd.paused = false
	}
	return true
}

// waitExit waits up to d for the process to exit.
func (nd *Node) waitExit(d time.Duration) bool {
	nd.mu.Lock()
	ch := nd.exited
	nd.mu.Unlock()
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

// Kill SIGKILLs the node and waits until it is gone.
func (nd *Node) Kill() {
	if nd.signal(syscall.SIGKILL) {
		nd.waitExit(10 * time.Second)
	}
}

// Stop SIGTERMs the node and waits (bounded) until it exits; a node that
// does not exit within 30s is killed and the test fails.
func (nd *Node) Stop() {
	t := nd.c.t
	t.Helper()
	if !nd.signal(syscall.SIGTERM) {
		return
	}
	if !nd.waitExit(30 * time.Second) {
		nd.Kill()
		t.Errorf("%s: did not exit within 30s of SIGTERM", nd.ID)
	}
}

// Pause SIGSTOPs the node: it keeps its sockets but answers nothing.
func (nd *Node) Pause() { nd.signal(syscall.SIGSTOP) }

// Resume SIGCONTs a paused node.
func (nd *Node) Resume() { nd.signal(syscall.SIGCONT) }

// Ready reports whether /readyz answers 200 (over HTTPS, verified with
// the cluster's CA, on a secure cluster).
func (nd *Node) Ready() bool {
	scheme := "http://"
	if nd.c.clientTLS != nil {
		scheme = "https://"
	}
	resp, err := nd.c.https.Get(scheme + nd.HTTPAddr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// WaitReady waits until /readyz answers 200; it fails the test if the
// process exits or timeout passes.
func (nd *Node) WaitReady(timeout time.Duration) {
	t := nd.c.t
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !nd.Ready() {
		if !nd.Running() {
			t.Fatalf("%s exited before it was ready", nd.ID)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %v", nd.ID, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WipeData deletes the node's data dir; the node must not be running.
func (nd *Node) WipeData() {
	t := nd.c.t
	t.Helper()
	if nd.Running() {
		t.Fatalf("%s: WipeData while running", nd.ID)
	}
	if err := os.RemoveAll(nd.DataDir); err != nil {
		t.Fatal(err)
	}
}

// Client returns an SDK client whose only endpoint is this node, for reads
// and Status. It does not retry, so what it sees is what this node answers;
// use Conn for writes through this node (the SDK follows NotLeader hints).
func (nd *Node) Client() *client.Client {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cl == nil {
		cl, err := client.New(nd.c.Config(client.Config{Endpoints: []string{nd.GRPCAddr}, MaxRetries: -1, DialTimeout: 2 * time.Second}))
		if err != nil {
			panic(err)
		}
		nd.cl = cl
	}
	return nd.cl
}

// Conn returns a plain gRPC connection to this node alone: calls made on
// it are answered by this node (forwarding to the leader if it must), as
// the SDK may redirect writes to the leader itself.
func (nd *Node) Conn() *grpc.ClientConn {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.conn == nil {
		cc, err := grpc.NewClient(nd.GRPCAddr, grpc.WithTransportCredentials(nd.c.dialCreds()))
		if err != nil {
			panic(err)
		}
		nd.conn = cc
	}
	return nd.conn
}

func (nd *Node) closeClient() {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cl != nil {
		nd.cl.Close()
		nd.cl = nil
	}
	if nd.conn != nil {
		nd.conn.Close()
		nd.conn = nil
	}
}

// Status asks the node itself for its status.
func (nd *Node) Status(timeout time.Duration) (client.NodeStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return nd.Client().Status(ctx)
}

// LogContains reports whether the node's log has s.
func (nd *Node) LogContains(s string) bool {
	b, _ := os.ReadFile(nd.LogPath)
	return bytes.Contains(b, []byte(s))
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

var errNotYet = errors.New("not yet")
