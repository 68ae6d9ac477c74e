package runner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/jepsen/netns"
)

// Node is one node process of the cluster under test.
type Node struct {
	Index   int
	ID      string // raft ID and name in the history ("n0", "n1", ...)
	Host    string // the address the node binds and advertises
	Port    int    // gRPC port; raft, gossip and HTTP are Port+1..+3
	DataDir string
	LogPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd exited
	paused bool
	direct *client.Client
}

// GRPC is the node's gRPC address.
func (n *Node) GRPC() string { return net.JoinHostPort(n.Host, strconv.Itoa(n.Port)) }

func (n *Node) gossip() string { return net.JoinHostPort(n.Host, strconv.Itoa(n.Port+2)) }
func (n *Node) http() string   { return net.JoinHostPort(n.Host, strconv.Itoa(n.Port+3)) }

// Cluster is the node processes of a run. It starts processes only under
// its own control and signals only the PIDs it started.
type Cluster struct {
	bin   string
	net   *netns.Network // nil: every node on loopback
	nodes []*Node
	extra []string // extra node flags
	env   []string // extra environment of every node
	hooks bool     // the node binary has the flowmesh_faults hooks
	sec   *secure  // nil: plaintext and no authentication
}

// ClusterConfig shapes a Cluster.
type ClusterConfig struct {
	Binary string         // bin/flowmesh-node
	Dir    string         // data dirs and logs go under it
	Nodes  int            // cluster size
	Net    *netns.Network // nil: loopback, ports BasePort + 10*i
	// BasePort is node 0's gRPC port on loopback (each node uses four).
	BasePort int
	Extra    []string
	Env      []string // added to the runner's environment for every node
	// FaultHooks: the binary was built with the flowmesh_faults tag; every
	// node gets its own hook files (clock offset, crash-before-apply,
	// lose-unsynced crash) in its environment.
	FaultHooks bool
	// Insecure runs the nodes without TLS and tokens; by default they run
	// as the README's secure setup has them (certs init, token add).
	Insecure bool
}

// NewCluster lays out the nodes; Start starts them.
func NewCluster(cfg ClusterConfig) (*Cluster, error) {
	c := &Cluster{bin: cfg.Binary, net: cfg.Net, extra: cfg.Extra, env: cfg.Env, hooks: cfg.FaultHooks}
	for i := 0; i < cfg.Nodes; i++ {
		n := &Node{Index: i, ID: fmt.Sprintf("n%d", i)}
		if cfg.Net != nil {
			n.Host, n.Port = cfg.Net.IP(i), 7400
		} else {
			n.Host, n.Port = "127.0.0.1", cfg.BasePort+10*i
		}
		n.DataDir = filepath.Join(cfg.Dir, n.ID, "data")
		n.LogPath = filepath.Join(cfg.Dir, n.ID, "node.log")
		if err := os.MkdirAll(n.DataDir, 0o755); err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	if !cfg.Insecure {
		var hosts []string
		for _, n := range c.nodes {
			hosts = append(hosts, n.Host)
		}
		sec, err := setupSecure(cfg.Binary, cfg.Dir, hosts)
		if err != nil {
			return nil, err
		}
		c.sec = sec
	}
	for _, n := range c.nodes {
		dc, err := client.New(c.ClientConfig(client.Config{Endpoints: []string{n.GRPC()}, DialTimeout: time.Second, MaxRetries: -1}))
		if err != nil {
			return nil, err
		}
		n.direct = dc
	}
	return c, nil
}

// ClientConfig adds the cluster's credentials (TLS and token, unless it
// runs insecure) to cfg.
func (c *Cluster) ClientConfig(cfg client.Config) client.Config { return c.sec.clientConfig(cfg) }

// Nodes are the cluster's nodes, by index.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Endpoints are the gRPC addresses, starting at node first.
func (c *Cluster) Endpoints(first int) []string {
	var out []string
	for k := range c.nodes {
		out = append(out, c.nodes[(first+k)%len(c.nodes)].GRPC())
	}
	return out
}

// Direct is a client bound to node i alone, without retries: for status,
// stale final reads and leader discovery.
func (c *Cluster) Direct(i int) *client.Client { return c.nodes[i].direct }

func (c *Cluster) args(n *Node, fresh bool) []string {
	var join []string
	for _, m := range c.nodes {
		if m != n {
			join = append(join, m.gossip())
		}
	}
	expect := len(c.nodes)
	if !fresh {
		expect = 0 // a wiped node rejoins a running cluster; the leader adds it
	}
	args := []string{
		"--id", n.ID,
		"--data-dir", n.DataDir,
		"--grpc-addr", n.GRPC(),
		"--raft-addr", net.JoinHostPort(n.Host, strconv.Itoa(n.Port+1)),
		"--gossip-addr", n.gossip(),
		"--http-addr", n.http(),
		"--bootstrap-expect", strconv.Itoa(expect),
		"--leave-on-terminate",
		"--shutdown-timeout", "2s",
	}
	if len(join) > 0 {
		args = append(args, "--join", strings.Join(join, ","))
	}
	if c.sec != nil {
		args = append(args, c.sec.flags...)
	}
	return append(args, c.extra...)
}

// Start starts node i (it must not be running). fresh is false for a node
// rejoining after its data was wiped.
func (c *Cluster) Start(i int, fresh bool) error {
	n := c.nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return fmt.Errorf("runner: %s is already running", n.ID)
	}
	if err := os.MkdirAll(n.DataDir, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	var cmd *exec.Cmd
	if c.net != nil {
		cmd = c.net.Command(i, c.bin, c.args(n, fresh)...)
	} else {
		cmd = exec.Command(c.bin, c.args(n, fresh)...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = os.Environ()
	if c.hooks {
		// A crash armed for a node that died otherwise must not hit the
		// restarted one.
		_ = os.Remove(n.crashFile())
		_ = os.Remove(n.unsyncedFile())
		cmd.Env = append(cmd.Env,
			"FLOWMESH_CLOCK_OFFSET_FILE="+absPath(n.clockFile()),
			"FLOWMESH_CRASH_BEFORE_APPLY_FILE="+absPath(n.crashFile()),
			"FLOWMESH_CRASH_LOSE_UNSYNCED_FILE="+absPath(n.unsyncedFile()))
	}
	cmd.Env = append(cmd.Env, c.env...)
	// Its own process group: a Ctrl-C to the runner reaches the runner
	// only, which then stops the nodes itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	fmt.Fprintf(logf, "=== jepsen: %s starting %s\n", time.Now().UTC().Format(time.RFC3339Nano), strings.Join(cmd.Args, " "))
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("runner: start %s: %w", n.ID, err)
	}
	done := make(chan struct{})
	n.cmd, n.done, n.paused = cmd, done, false
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(logf, "=== jepsen: %s exited: %v\n", time.Now().UTC().Format(time.RFC3339Nano), err)
		logf.Close()
		n.mu.Lock()
		if n.cmd == cmd {
			n.cmd = nil
		}
		n.mu.Unlock()
		close(done)
	}()
	return nil
}

// Running reports whether node i's process is alive.
func (c *Cluster) Running(i int) bool {
	n := c.nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

func (c *Cluster) signal(i int, sig syscall.Signal) (chan struct{}, error) {
	n := c.nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return nil, nil
	}
	switch sig {
	case syscall.SIGSTOP:
		n.paused = true
	case syscall.SIGCONT:
		n.paused = false
	}
	return n.done, n.cmd.Process.Signal(sig)
}

// Kill SIGKILLs node i and waits for it to exit.
func (c *Cluster) Kill(i int) error {
	done, err := c.signal(i, syscall.SIGKILL)
	if done != nil {
		<-done
	}
	return err
}

// Terminate SIGTERMs node i (with --leave-on-terminate it leaves the
// cluster first) and waits up to timeout, then SIGKILLs it.
func (c *Cluster) Terminate(i int, timeout time.Duration) error {
	_, _ = c.signal(i, syscall.SIGCONT)
	done, err := c.signal(i, syscall.SIGTERM)
	if done == nil {
		return err
	}
	select {
	case <-done:
		return err
	case <-time.After(timeout):
		return errors.Join(err, fmt.Errorf("runner: %s did not exit within %s of SIGTERM; killed", c.nodes[i].ID, timeout), c.Kill(i))
	}
}

// Leave asks node i over gRPC (ClusterService.Leave, as `flowmesh cluster
// leave` does) to leave the cluster; the node then stops. It waits up to
// timeout for the exit, then SIGKILLs it.
func (c *Cluster) Leave(ctx context.Context, i int, timeout time.Duration) error {
	n := c.nodes[i]
	n.mu.Lock()
	done := n.done
	running := n.cmd != nil
	n.mu.Unlock()
	if !running {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := n.direct.Leave(lctx, n.ID)
	select {
	case <-done:
		return err
	case <-lctx.Done():
		return errors.Join(err, fmt.Errorf("runner: %s did not exit within %s of Leave; killed", n.ID, timeout), c.Kill(i))
	}
}

// Pause SIGSTOPs node i; Resume SIGCONTs it.
func (c *Cluster) Pause(i int) error {
	_, err := c.signal(i, syscall.SIGSTOP)
	return err
}

func (c *Cluster) Resume(i int) error {
	_, err := c.signal(i, syscall.SIGCONT)
	return err
}

// Wipe removes node i's data (it must be stopped).
func (c *Cluster) Wipe(i int) error {
	if c.Running(i) {
		return fmt.Errorf("runner: wipe %s while it runs", c.nodes[i].ID)
	}
	return os.RemoveAll(c.nodes[i].DataDir)
}

// StopAll resumes and kills every node and closes the direct clients.
func (c *Cluster) StopAll() {
	for i := range c.nodes {
		_ = c.Resume(i)
		_ = c.Kill(i)
		_ = c.nodes[i].direct.Close()
	}
}

// Every node gets its own files for the flowmesh_faults hooks
// (internal/faults); nodes built without the tag ignore them.
func (n *Node) clockFile() string { return filepath.Join(filepath.Dir(n.DataDir), "clock-offset") }
func (n *Node) crashFile() string {
	return filepath.Join(filepath.Dir(n.DataDir), "crash-before-apply")
}
func (n *Node) unsyncedFile() string {
	return filepath.Join(filepath.Dir(n.DataDir), "lose-unsynced")
}

// SetClockOffset sets node i's test clock offset (FLOWMESH_CLOCK_OFFSET_FILE;
// the node re-reads it within 100 ms).
func (c *Cluster) SetClockOffset(i int, d time.Duration) error {
	return writeAtomic(c.nodes[i].clockFile(), d.String()+"\n")
}

// ArmCrashBeforeApply creates node i's FLOWMESH_CRASH_BEFORE_APPLY_FILE.
func (c *Cluster) ArmCrashBeforeApply(i int) error {
	return writeAtomic(c.nodes[i].crashFile(), "armed\n")
}

// ArmLoseUnsynced creates node i's FLOWMESH_CRASH_LOSE_UNSYNCED_FILE: within
// 50 ms the node cuts its segment files back to their last fsync and exits
// (code 99) without any shutdown.
func (c *Cluster) ArmLoseUnsynced(i int) error {
	n := c.nodes[i]
	_ = os.Remove(n.unsyncedFile() + ".dropped")
	return writeAtomic(n.unsyncedFile(), "armed\n")
}

// LoseUnsyncedReport is what node i reported cutting at its last
// lose-unsynced crash ("" if it wrote no report).
func (c *Cluster) LoseUnsyncedReport(i int) string {
	b, err := os.ReadFile(c.nodes[i].unsyncedFile() + ".dropped")
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(strings.TrimSpace(string(b)), "flowmesh_faults: lose-unsynced crash: ")
}

func writeAtomic(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// AwaitExit waits up to timeout for node i to exit by itself, then
// SIGKILLs it; it reports whether the node exited by itself.
func (c *Cluster) AwaitExit(i int, timeout time.Duration) bool {
	n := c.nodes[i]
	n.mu.Lock()
	done := n.done
	running := n.cmd != nil
	n.mu.Unlock()
	if !running {
		return true
	}
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		_ = c.Kill(i)
		return false
	}
}

// Ready reports whether node i answers /readyz with 200.
func (c *Cluster) Ready(ctx context.Context, i int) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.sec.url(c.nodes[i].http(), "/readyz"), nil)
	if err != nil {
		return false
	}
	resp, err := c.sec.httpClient().Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Status is node i's status, asked with a short timeout.
func (c *Cluster) Status(ctx context.Context, i int) (client.NodeStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return c.nodes[i].direct.Status(ctx)
}

// Leader returns the index of the node that leads with the highest term
// among the nodes that answer, or -1.
func (c *Cluster) Leader(ctx context.Context) int {
	best, term := -1, uint64(0)
	for i := range c.nodes {
		st, err := c.Status(ctx, i)
		if err == nil && st.Role == "leader" && st.Term >= term {
			best, term = i, st.Term
		}
	}
	return best
}

// AwaitHealthy waits until every running node is ready and all agree on
// one leader and the same applied index, or ctx ends.
func (c *Cluster) AwaitHealthy(ctx context.Context) error {
	var last string
	for {
		ok := true
		var leader string
		var applied uint64
		for i := range c.nodes {
			if !c.Ready(ctx, i) {
				ok, last = false, c.nodes[i].ID+" not ready"
				break
			}
			st, err := c.Status(ctx, i)
			if err != nil {
				ok, last = false, fmt.Sprintf("%s status: %v", c.nodes[i].ID, err)
				break
			}
			if i == 0 {
				leader, applied = st.LeaderID, st.AppliedIndex
			} else if st.LeaderID != leader || st.AppliedIndex != applied || st.LeaderID == "" {
				ok, last = false, fmt.Sprintf("%s: leader %q applied %d, %s: leader %q applied %d", c.nodes[0].ID, leader, applied, c.nodes[i].ID, st.LeaderID, st.AppliedIndex)
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("runner: cluster not healthy: %s", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
