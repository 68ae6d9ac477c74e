// Package workload holds the jepsen workloads: what each client process
// does, the final reads after healing, and which checker judges the
// history. A workload records every operation through a history.Recorder
// (invoke before the SDK call, complete after it, errors classified by
// history.Classify) and writes only unique values ("<process>-<n>").
//
// The runner calls, in order: Setup once; Step in a loop from each client
// process until the fault phase ends; Final once after the cluster healed
// and converged; Check on the whole history.
package workload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/jepsen/checker"
	"github.com/flowmesh/flowmesh/jepsen/history"
)

// Workload is one kind of test.
type Workload interface {
	// Setup creates the resource the clients use.
	Setup(ctx context.Context, c *client.Client) error
	// Step runs one operation (or one short sequence, like reserve then
	// ack) of client process p. It returns when the ops completed; each op
	// is bounded by the Env's OpTimeout.
	Step(ctx context.Context, p *Process)
	// Final runs the final reads after healing.
	Final(ctx context.Context, env *Env) error
	// Check judges the history; keys name the checks in results.json.
	Check(ops []history.Op, windows []history.Window, vizPath string) map[string]checker.Result
}

// Env is what a workload sees of the run.
type Env struct {
	Rec       *history.Recorder
	OpTimeout time.Duration
	// Nodes are the node names, by index; Direct(i) is a client bound to
	// node i alone (stale final reads), Any a client of the whole cluster.
	Nodes  []string
	Direct func(i int) *client.Client
	Any    *client.Client
	// Seed seeds the final phase's choices.
	Seed int64
}

// Process is one client process: a logical single-threaded client.
type Process struct {
	ID     int
	Client *client.Client
	Node   string // the node the client's endpoint list starts at
	Rand   *rand.Rand
	Env    *Env
	n      int
	state  any // the workload's per-process state
}

// NewProcess returns process id, its random choices seeded from seed.
func NewProcess(id int, c *client.Client, node string, seed int64, env *Env) *Process {
	return &Process{ID: id, Client: c, Node: node, Env: env, Rand: rand.New(rand.NewPCG(uint64(seed), uint64(id)+1))}
}

// Value is a fresh unique value of the process.
func (p *Process) Value() string {
	p.n++
	return fmt.Sprintf("%d-%d", p.ID, p.n)
}

// ctx bounds one op.
func (p *Process) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, p.Env.OpTimeout)
}

// New returns the workload named name.
func New(name string, cfg Config) (Workload, error) {
	switch name {
	case "kv":
		return newKV(cfg), nil
	case "queue":
		return newQueue(cfg), nil
	case "stream":
		return newStream(cfg), nil
	case "txn":
		return newTxn(cfg), nil
	case "lock":
		return newLock(cfg), nil
	}
	return nil, fmt.Errorf("workload: unknown workload %q", name)
}

// Config tunes the workloads; zero fields take DefaultConfig's values.
type Config struct {
	// KV: keys in use at once, and ops per key before it is retired (keeps
	// porcupine's search per key small).
	Keys, OpsPerKey int
	// Queue: the reservation length, and how much sooner a reservation
	// may end (clock faults; at least a second for leader changes).
	Visibility, ClockSlack time.Duration
	// Stream: partitions.
	Partitions int
	// Txn: accounts, and each one's starting balance.
	Accounts int
	Balance  int64
	// Lock: the TTL of the lock's sessions (holders that stall stall for
	// 1.5 TTL).
	LockTTL time.Duration
	// PorcupineTimeout bounds the linearizability search.
	PorcupineTimeout time.Duration
	// Reads is the consistency of kv reads and stream polls. Anything but
	// Linearizable is a self-test: the checkers must then find anomalies
	// under partitions, which proves the pipeline can fail end to end.
	Reads flowmesh.Consistency
}

// DefaultConfig is the CI-sized configuration.
func DefaultConfig() Config {
	return Config{Keys: 4, OpsPerKey: 150, Visibility: 2 * time.Second, Partitions: 2, Accounts: 5, Balance: 1000, LockTTL: time.Second, PorcupineTimeout: 60 * time.Second}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Keys <= 0 {
		c.Keys = d.Keys
	}
	if c.OpsPerKey <= 0 {
		c.OpsPerKey = d.OpsPerKey
	}
	if c.Visibility <= 0 {
		c.Visibility = d.Visibility
	}
	c.ClockSlack = max(c.ClockSlack, time.Second)
	if c.Partitions <= 0 {
		c.Partitions = d.Partitions
	}
	if c.Accounts < 2 {
		c.Accounts = d.Accounts
	}
	if c.Balance <= 0 {
		c.Balance = d.Balance
	}
	if c.LockTTL <= 0 {
		c.LockTTL = d.LockTTL
	}
	if c.PorcupineTimeout <= 0 {
		c.PorcupineTimeout = d.PorcupineTimeout
	}
	return c
}

const tenant, namespace = Tenant, "test"

// Tenant owns every resource a workload creates (the runner sets its quota).
const Tenant = "jepsen"
