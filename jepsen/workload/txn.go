package workload

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/jepsen/checker"
	"github.com/flowmesh/flowmesh/jepsen/history"
)

// txn is the transaction workload: Accounts KV accounts start with Balance
// each; processes transfer between two of them (70% of steps) as one
// transaction each: compare both accounts' revisions (as a Balances read
// of the process saw them), put both new balances, append one event
// naming the transfer's ID to the ledger stream and enqueue one job with
// the ID. The other steps read every balance in one transaction of gets.
// Final phase: one more Balances read, a read of the whole ledger, and a
// drain of the jobs queue (reserve + ack, the queue workload's drain).
type txn struct {
	cfg                     Config
	accounts, ledger, jobsQ string
	jobs                    *queue
}

func newTxn(cfg Config) *txn {
	cfg = cfg.withDefaults()
	jobs := flowmesh.JoinPath(tenant, namespace, "transfers")
	return &txn{
		cfg:      cfg,
		accounts: flowmesh.JoinPath(tenant, namespace, "accounts"),
		ledger:   flowmesh.JoinPath(tenant, namespace, "ledger"),
		jobsQ:    jobs,
		jobs:     &queue{cfg: cfg, path: jobs},
	}
}

func account(i int) string { return fmt.Sprintf("acct%d", i) }

func (w *txn) Setup(ctx context.Context, c *client.Client) error {
	_, err := c.CreateKVStore(ctx, tenant, namespace, "accounts")
	if err != nil && !errors.Is(err, flowmesh.ErrAlreadyExists) {
		return err
	}
	if _, err := c.CreateStream(ctx, tenant, namespace, "ledger", 1); err != nil && !errors.Is(err, flowmesh.ErrAlreadyExists) {
		return err
	}
	if _, err := c.CreateQueue(ctx, tenant, namespace, "transfers", 1,
		flowmesh.WithVisibilityTimeout(w.cfg.Visibility), flowmesh.WithMaxAttempts(1000)); err != nil && !errors.Is(err, flowmesh.ErrAlreadyExists) {
		return err
	}
	// Every account in one transaction, only if none exists yet (a
	// retried setup must not reset balances).
	t := flowmesh.Txn{Compares: []flowmesh.TxnCompare{flowmesh.CompareExists(w.accounts, account(0), false)}}
	for i := range w.cfg.Accounts {
		t.Then = append(t.Then, flowmesh.OpPut(w.accounts, account(i), []byte(strconv.FormatInt(w.cfg.Balance, 10)), 0))
	}
	_, err = c.Txn(ctx, t)
	return err
}

// txnState is what a process last saw of the accounts.
type txnState struct {
	bal []int64
	rev []uint64
}

func (w *txn) Step(ctx context.Context, p *Process) {
	st, _ := p.state.(*txnState)
	if st == nil || p.Rand.IntN(10) < 3 {
		if s, ok := w.read(ctx, p, p.ID, p.Client, p.Node); ok {
			p.state = s
		}
		return
	}
	from := p.Rand.IntN(w.cfg.Accounts)
	to := (from + 1 + p.Rand.IntN(w.cfg.Accounts-1)) % w.cfg.Accounts
	amount := int64(1 + p.Rand.IntN(5))
	id := p.Value()
	octx, cancel := p.ctx(ctx)
	defer cancel()
	h := p.Env.Rec.Invoke(history.Op{Process: p.ID, F: history.Transfer, Key: fmt.Sprintf("%d>%d", from, to), Value: id, Expect: uint64(amount), Node: p.Node})
	res, err := p.Client.Txn(octx, flowmesh.Txn{
		Compares: []flowmesh.TxnCompare{
			flowmesh.CompareRevision(w.accounts, account(from), flowmesh.CompareEqual, st.rev[from]),
			flowmesh.CompareRevision(w.accounts, account(to), flowmesh.CompareEqual, st.rev[to]),
		},
		Then: []flowmesh.TxnOp{
			flowmesh.OpPut(w.accounts, account(from), []byte(strconv.FormatInt(st.bal[from]-amount, 10)), 0),
			flowmesh.OpPut(w.accounts, account(to), []byte(strconv.FormatInt(st.bal[to]+amount, 10)), 0),
			flowmesh.OpAppend(w.ledger, flowmesh.StreamEvent{Payload: []byte(id)}),
			flowmesh.OpEnqueue(w.jobsQ, []byte(id), flowmesh.QueueEnqueueOptions{}),
		},
	})
	switch {
	case err != nil:
		h.Error(err, nil)
		p.state = nil // read again before the next transfer
	case !res.Succeeded:
		h.Complete(history.Fail, errors.New("compares did not hold"), nil)
		p.state = nil
	default:
		h.OK(func(o *history.Op) { o.Revision = res.Revision })
		st.bal[from] -= amount
		st.bal[to] += amount
		if len(res.Results) < 2 {
			p.state = nil
			return
		}
		st.rev[from], st.rev[to] = res.Results[0].Revision, res.Results[1].Revision
	}
}

// read records one Balances read: a transaction of one get per account.
func (w *txn) read(ctx context.Context, p *Process, proc int, c *client.Client, node string) (*txnState, bool) {
	octx, cancel := p.ctx(ctx)
	defer cancel()
	t := flowmesh.Txn{}
	for i := range w.cfg.Accounts {
		t.Then = append(t.Then, flowmesh.OpGet(w.accounts, account(i)))
	}
	h := p.Env.Rec.Invoke(history.Op{Process: proc, F: history.Balances, Key: w.accounts, Node: node})
	res, err := c.Txn(octx, t)
	if err != nil {
		h.Error(err, nil)
		return nil, false
	}
	st := &txnState{bal: make([]int64, w.cfg.Accounts), rev: make([]uint64, w.cfg.Accounts)}
	vals := make([]string, w.cfg.Accounts)
	for i, r := range res.Results {
		if i >= len(vals) || !r.Found || len(r.Entries) != 1 {
			vals[i] = "absent"
			continue
		}
		vals[i] = string(r.Entries[0].Value)
		st.bal[i], _ = strconv.ParseInt(vals[i], 10, 64)
		st.rev[i] = r.Entries[0].Revision
	}
	h.OK(func(o *history.Op) { o.Value, o.Revision = strings.Join(vals, ","), res.Revision })
	return st, true
}

// Final reads the balances, then the whole ledger, then drains the jobs.
func (w *txn) Final(ctx context.Context, env *Env) error {
	const finalProcess = 1 << 20
	p := NewProcess(finalProcess, env.Any, "", env.Seed, env)
	var errs []error
	ok := false
	for try := 0; try < 5 && !ok; try++ {
		_, ok = w.read(ctx, p, finalProcess, env.Any, "")
	}
	if !ok {
		errs = append(errs, errors.New("workload: final balances read failed 5 times"))
	}
	if !finalReadPartition(ctx, env, finalProcess, w.ledger) {
		errs = append(errs, errors.New("workload: final ledger read failed 5 times"))
	}
	if err := w.jobs.Final(ctx, env); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// finalReadPartition records the final read of partition 0 of the stream
// at path, trying up to five times; it reports whether one succeeded.
func finalReadPartition(ctx context.Context, env *Env, process int, path string) bool {
	for try := 0; try < 5; try++ {
		h := env.Rec.Invoke(history.Op{Process: process, F: history.FinalRead, Key: path})
		all, err := readPartition(ctx, env.Any, path, 0)
		if err != nil {
			h.Error(err, nil)
			continue
		}
		h.OK(func(o *history.Op) { o.Messages = all })
		return true
	}
	return false
}

// readPartition reads a stream partition from offset 0 (linearizable
// unless opts say otherwise).
func readPartition(ctx context.Context, c *client.Client, path string, partition int, opts ...flowmesh.CallOption) ([]history.Message, error) {
	var all []history.Message
	var from uint64
	for range 100000 {
		rctx, cancel := context.WithTimeout(ctx, 5e9)
		ms, err := c.ReadFromOffset(rctx, path, partition, from, 1000, opts...)
		cancel()
		if err != nil {
			return nil, err
		}
		if len(ms) == 0 {
			return all, nil
		}
		all = append(all, messages(ms)...)
		from = ms[len(ms)-1].Offset + 1
	}
	return nil, fmt.Errorf("workload: read of %s/%d did not end", path, partition)
}

func (w *txn) Check(ops []history.Op, _ []history.Window, _ string) map[string]checker.Result {
	w.jobs.mu.Lock()
	drained := w.jobs.drained
	w.jobs.mu.Unlock()
	return map[string]checker.Result{"txn": checker.CheckTxn(ops, TxnCheckConfig(w.cfg, drained))}
}

// TxnCheckConfig is the txn checker's configuration for a run of cfg
// (drained: the final drain of the jobs finished).
func TxnCheckConfig(cfg Config, drained bool) checker.TxnConfig {
	w := newTxn(cfg)
	return checker.TxnConfig{Accounts: w.cfg.Accounts, Balance: w.cfg.Balance, Ledger: w.ledger, Jobs: w.jobsQ, Drained: drained}
}
