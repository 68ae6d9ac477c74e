// Package netns gives each node of a jepsen run its own Linux network
// namespace, joined to the root namespace by a veth pair on a bridge the
// run creates, so network faults are real cuts: iptables DROP rules inside
// a node's namespace (partitions) and tc netem on its veth (delay, loss).
//
// Layout for run r and node i (n nodes):
//
//	bridge   fj<r>b, address 10.<a>.<b>.254/24, in the root namespace
//	netns    fj<r>n<i>, with lo up and eth0 = 10.<a>.<b>.<i+1>/24
//	veth     fj<r>v<i> (root side, on the bridge) <-> eth0 (inside)
//
// The test clients run in the root namespace and reach every node through
// the bridge; partitions cut node-to-node traffic only, as Jepsen does when
// clients sit beside their nodes. A root-namespace FORWARD ACCEPT rule for
// the subnet is added (and removed on Close) because hosts with
// br_netfilter and a DROP forward policy (Docker) would drop bridged
// traffic otherwise.
//
// Everything needs root and the ip, iptables and tc commands.
package netns

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Network is the namespaces, veths and bridge of one run.
type Network struct {
	id     string // short run ID used in device names
	subnet string // "10.a.b"
	n      int

	mu      sync.Mutex
	created []string // namespaces, for Close
	bridge  bool
	forward bool
}

// Config shapes a Network.
type Config struct {
	// ID names the run's devices; at most 6 characters of [a-z0-9].
	ID string
	// Subnet is the first three octets of the /24, e.g. "10.231.7".
	Subnet string
	Nodes  int
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.ID == "" || len(c.ID) > 6 {
		errs = append(errs, fmt.Errorf("netns: id %q must be 1-6 characters", c.ID))
	}
	if strings.Count(c.Subnet, ".") != 2 {
		errs = append(errs, fmt.Errorf("netns: subnet %q must be three octets", c.Subnet))
	}
	if c.Nodes < 1 || c.Nodes > 200 {
		errs = append(errs, fmt.Errorf("netns: %d nodes, want 1-200", c.Nodes))
	}
	return errors.Join(errs...)
}

// Available reports why namespaces cannot be used here, or nil.
func Available() error {
	var errs []error
	for _, c := range []string{"ip", "iptables", "tc"} {
		if _, err := exec.LookPath(c); err != nil {
			errs = append(errs, fmt.Errorf("netns: %s not found (apt-get install -y iproute2 iptables)", c))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
		return fmt.Errorf("netns: ip netns list: %v: %s", err, out)
	}
	return nil
}

// Create builds the network. On error it removes what it made.
func Create(ctx context.Context, cfg Config) (*Network, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	nw := &Network{id: cfg.ID, subnet: cfg.Subnet, n: cfg.Nodes}
	if err := nw.create(ctx); err != nil {
		return nil, errors.Join(err, nw.Close())
	}
	return nw, nil
}

func (nw *Network) bridgeName() string { return "fj" + nw.id + "b" }

// NS is node i's namespace.
func (nw *Network) NS(i int) string { return fmt.Sprintf("fj%sn%d", nw.id, i) }

func (nw *Network) veth(i int) string { return fmt.Sprintf("fj%sv%d", nw.id, i) }

// IP is node i's address.
func (nw *Network) IP(i int) string { return fmt.Sprintf("%s.%d", nw.subnet, i+1) }

// HostIP is the root namespace's address on the bridge.
func (nw *Network) HostIP() string { return nw.subnet + ".254" }

func (nw *Network) create(ctx context.Context) error {
	br := nw.bridgeName()
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if err := run(ctx, "ip", "link", "add", br, "type", "bridge"); err != nil {
		return err
	}
	nw.bridge = true
	if err := runAll(ctx,
		[]string{"ip", "addr", "add", nw.HostIP() + "/24", "dev", br},
		[]string{"ip", "link", "set", br, "up"},
	); err != nil {
		return err
	}
	if err := run(ctx, "iptables", "-I", "FORWARD", "-s", nw.subnet+".0/24", "-d", nw.subnet+".0/24", "-j", "ACCEPT"); err != nil {
		return err
	}
	nw.forward = true
	for i := 0; i < nw.n; i++ {
		ns, v := nw.NS(i), nw.veth(i)
		if err := run(ctx, "ip", "netns", "add", ns); err != nil {
			return err
		}
		nw.created = append(nw.created, ns)
		if err := runAll(ctx,
			[]string{"ip", "link", "add", v, "type", "veth", "peer", "name", v + "p"},
			[]string{"ip", "link", "set", v + "p", "netns", ns},
			[]string{"ip", "netns", "exec", ns, "ip", "link", "set", v + "p", "name", "eth0"},
			[]string{"ip", "netns", "exec", ns, "ip", "addr", "add", nw.IP(i) + "/24", "dev", "eth0"},
			[]string{"ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up"},
			[]string{"ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"},
			[]string{"ip", "link", "set", v, "master", br},
			[]string{"ip", "link", "set", v, "up"},
		); err != nil {
			return err
		}
	}
	return nil
}

// Command returns a command that runs name with args inside node i's
// namespace. ip netns exec execs in place, so the process's PID is the
// program's own.
func (nw *Network) Command(i int, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", nw.NS(i), name}, args...)...)
}

// Partition cuts traffic between nodes that are not connected: for every
// pair (i, j) with !connected(i, j), node i drops packets from and to j.
// It replaces any previous partition.
func (nw *Network) Partition(ctx context.Context, connected func(i, j int) bool) error {
	if err := nw.HealPartition(ctx); err != nil {
		return err
	}
	var errs []error
	for i := 0; i < nw.n; i++ {
		for j := 0; j < nw.n; j++ {
			if i == j || connected(i, j) {
				continue
			}
			ns := nw.NS(i)
			errs = append(errs, runAll(ctx,
				[]string{"ip", "netns", "exec", ns, "iptables", "-A", "INPUT", "-s", nw.IP(j), "-j", "DROP"},
				[]string{"ip", "netns", "exec", ns, "iptables", "-A", "OUTPUT", "-d", nw.IP(j), "-j", "DROP"},
			))
		}
	}
	return errors.Join(errs...)
}

// HealPartition removes every DROP rule in every node's namespace.
func (nw *Network) HealPartition(ctx context.Context) error {
	var errs []error
	for i := 0; i < nw.n; i++ {
		ns := nw.NS(i)
		errs = append(errs, runAll(ctx,
			[]string{"ip", "netns", "exec", ns, "iptables", "-F", "INPUT"},
			[]string{"ip", "netns", "exec", ns, "iptables", "-F", "OUTPUT"},
		))
	}
	return errors.Join(errs...)
}

// Netem shapes the packets node i sends (its eth0 egress): delay ± jitter
// and loss percent, with tc netem. Kernels without sch_netem (this CI's
// microVM kernel has none) get the closest real substitutes: loss from an
// iptables "statistic" DROP rule in the mangle table, and delay as a slow
// link (tbf at 1 Mbit/s, queueing up to the delay) — a bandwidth fault,
// not a fixed delay; Netem's second result says which was used. It
// replaces any previous shaping of node i.
func (nw *Network) Netem(ctx context.Context, i int, delay, jitter time.Duration, loss float64) (string, error) {
	ns := nw.NS(i)
	args := []string{"ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", "eth0", "root", "netem"}
	if delay > 0 {
		args = append(args, "delay", fmt.Sprintf("%dms", delay.Milliseconds()), fmt.Sprintf("%dms", jitter.Milliseconds()))
	}
	if loss > 0 {
		args = append(args, "loss", fmt.Sprintf("%g%%", loss))
	}
	err := run(ctx, args...)
	if err == nil || !strings.Contains(err.Error(), "qdisc kind is unknown") {
		return "tc netem", err
	}
	var how []string
	if loss > 0 {
		err = run(ctx, "ip", "netns", "exec", ns, "iptables", "-t", "mangle", "-A", "OUTPUT",
			"-m", "statistic", "--mode", "random", "--probability", fmt.Sprintf("%.4f", loss/100), "-j", "DROP")
		if err != nil {
			return "", err
		}
		how = append(how, "iptables statistic DROP")
	}
	if delay > 0 {
		lat := max(delay+jitter, 20*time.Millisecond)
		err = run(ctx, "ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", "eth0", "root",
			"tbf", "rate", "1mbit", "burst", "16kb", "latency", fmt.Sprintf("%dms", lat.Milliseconds()))
		if err != nil {
			return "", err
		}
		how = append(how, "tbf 1mbit (no sch_netem)")
	}
	return strings.Join(how, ", "), nil
}

// HealNetem removes the shaping of every node.
func (nw *Network) HealNetem(ctx context.Context) error {
	var errs []error
	for i := 0; i < nw.n; i++ {
		// No qdisc is not an error worth reporting.
		_ = run(ctx, "ip", "netns", "exec", nw.NS(i), "tc", "qdisc", "del", "dev", "eth0", "root")
		errs = append(errs, run(ctx, "ip", "netns", "exec", nw.NS(i), "iptables", "-t", "mangle", "-F", "OUTPUT"))
	}
	return errors.Join(errs...)
}

// Close removes the namespaces (their veths and rules go with them), the
// bridge and the forward rule. It is idempotent and does not need the
// caller's context: cleanup must run even when the run was cancelled.
func (nw *Network) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nw.mu.Lock()
	defer nw.mu.Unlock()
	var errs []error
	for i, ns := range nw.created {
		_ = run(ctx, "ip", "link", "del", nw.veth(i)) // gone with the namespace too
		errs = append(errs, run(ctx, "ip", "netns", "del", ns))
	}
	nw.created = nil
	if nw.bridge {
		errs = append(errs, run(ctx, "ip", "link", "del", nw.bridgeName()))
		nw.bridge = false
	}
	if nw.forward {
		errs = append(errs, run(ctx, "iptables", "-D", "FORWARD", "-s", nw.subnet+".0/24", "-d", nw.subnet+".0/24", "-j", "ACCEPT"))
		nw.forward = false
	}
	return errors.Join(errs...)
}

func run(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netns: %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func runAll(ctx context.Context, cmds ...[]string) error {
	for _, c := range cmds {
		if err := run(ctx, c...); err != nil {
			return err
		}
	}
	return nil
}
