package workload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/client/concurrency"
	"github.com/flowmesh/flowmesh/jepsen/checker"
	"github.com/flowmesh/flowmesh/jepsen/history"
)

// lock is the fencing workload: every process takes one lock through the
// SDK (concurrency.Session and Mutex, TTL Config.LockTTL), writes a few
// times under its fencing token and releases it. A write is one
// transaction: compare the hold is current (Mutex.IsOwner: the lock key's
// create revision is the token), put the protected key and append an
// event, both "<token>/<process>-<n>". One hold in six stalls before
// one of its writes for LockTTL*3/2, keep-alives included, as a process
// paused by GC or a stopped VM would; the lock expires meanwhile and
// another process takes it, and the stalled holder then writes as if it
// still held it: the fence must refuse it. Node pauses, kills and
// partitions make holders lose their lease on their own too.
//
// An acquire waits up to 2 TTL + 2 op timeouts (the lock must be able to
// expire under a stalled holder and reach a waiter); every other op is
// bounded by the op timeout.
//
// Final phase: the whole events stream (the committed order of the
// accepted writes) and the protected key, both linearizable.
type lock struct {
	cfg                 Config
	locks, state, event string

	mu       sync.Mutex
	sessions map[int]*concurrency.Session // each process's open session
	closing  sync.WaitGroup               // sessions closing in the background
}

const (
	lockKey  = "lock"
	valueKey = "value"
)

func newLock(cfg Config) *lock {
	cfg = cfg.withDefaults()
	return &lock{
		cfg:      cfg,
		locks:    flowmesh.JoinPath(tenant, namespace, "locks"),
		state:    flowmesh.JoinPath(tenant, namespace, "state"),
		event:    flowmesh.JoinPath(tenant, namespace, "fenced"),
		sessions: map[int]*concurrency.Session{},
	}
}

func (w *lock) Setup(ctx context.Context, c *client.Client) error {
	for _, name := range []string{"locks", "state"} {
		if _, err := c.CreateKVStore(ctx, tenant, namespace, name); err != nil && !errors.Is(err, flowmesh.ErrAlreadyExists) {
			return err
		}
	}
	if _, err := c.CreateStream(ctx, tenant, namespace, "fenced", 1); err != nil && !errors.Is(err, flowmesh.ErrAlreadyExists) {
		return err
	}
	return nil
}

// stallableKV is what a process's session talks through: while the
// process stalls, its session's calls (the keep-alives) wait too, as every
// thread of a paused process would.
type stallableKV struct {
	*client.Client
	mu      sync.Mutex
	resumed chan struct{} // nil while running; closed when the stall ends
}

func (k *stallableKV) Txn(ctx context.Context, t flowmesh.Txn, opts ...flowmesh.CallOption) (*flowmesh.TxnResult, error) {
	k.mu.Lock()
	resumed := k.resumed
	k.mu.Unlock()
	if resumed != nil {
		select {
		case <-resumed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return k.Client.Txn(ctx, t, opts...)
}

// stall stops the session's calls for d (or until ctx ends).
func (k *stallableKV) stall(ctx context.Context, d time.Duration) {
	resumed := make(chan struct{})
	k.mu.Lock()
	k.resumed = resumed
	k.mu.Unlock()
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	k.mu.Lock()
	k.resumed = nil
	k.mu.Unlock()
	close(resumed)
}

// lockState is a process's hold: nil mutex while it holds nothing.
type lockState struct {
	kv      *stallableKV
	s       *concurrency.Session
	m       *concurrency.Mutex
	left    int // writes left in this hold
	stallAt int // stall before the write when left reaches it (0: never)
}

func (w *lock) Step(ctx context.Context, p *Process) {
	st, _ := p.state.(*lockState)
	if st == nil {
		st = &lockState{kv: &stallableKV{Client: p.Client}}
		p.state = st
	}
	switch {
	case st.m == nil:
		w.acquire(ctx, p, st)
	case st.left == 0:
		w.release(ctx, p, st)
	default:
		if st.left == st.stallAt {
			st.stallAt = 0 // once per hold, also when the write does not go through
			st.kv.stall(ctx, w.cfg.LockTTL*3/2)
		}
		w.write(ctx, p, st)
	}
}

func (w *lock) acquire(ctx context.Context, p *Process, st *lockState) {
	s, err := concurrency.NewSession(st.kv, w.locks, concurrency.WithTTL(w.cfg.LockTTL))
	if err != nil {
		p.Env.Rec.Invoke(history.Op{Process: p.ID, F: history.Acquire, Key: lockKey, Node: p.Node}).Complete(history.Fail, err, nil)
		return
	}
	m := concurrency.NewMutex(s, lockKey)
	// Waiting for the lock is part of taking it: long enough for a
	// stalled holder's lock to expire and be taken by the first waiter.
	octx, cancel := context.WithTimeout(ctx, 2*w.cfg.LockTTL+2*p.Env.OpTimeout)
	defer cancel()
	h := p.Env.Rec.Invoke(history.Op{Process: p.ID, F: history.Acquire, Key: lockKey, Node: p.Node})
	if err := m.Lock(octx); err != nil {
		h.Complete(lockOutcome(history.Acquire, err), err, nil)
		w.closeSession(s)
		return
	}
	token := m.Token()
	h.OK(func(o *history.Op) { o.Revision = token })
	w.mu.Lock()
	w.sessions[p.ID] = s
	w.mu.Unlock()
	st.s, st.m = s, m
	st.left = 1 + p.Rand.IntN(8)
	st.stallAt = 0
	if p.Rand.IntN(6) == 0 {
		st.stallAt = 1 + p.Rand.IntN(st.left)
	}
}

func (w *lock) write(ctx context.Context, p *Process, st *lockState) {
	token := st.m.Token()
	v := fmt.Sprintf("%d/%s", token, p.Value())
	octx, cancel := p.ctx(ctx)
	defer cancel()
	h := p.Env.Rec.Invoke(history.Op{Process: p.ID, F: history.FencedWrite, Key: lockKey, Value: v, Expect: token, Node: p.Node})
	res, err := p.Client.Txn(octx, flowmesh.Txn{
		Compares: []flowmesh.TxnCompare{st.m.IsOwner()},
		Then: []flowmesh.TxnOp{
			flowmesh.OpPut(w.state, valueKey, []byte(v), 0),
			flowmesh.OpAppend(w.event, flowmesh.StreamEvent{Payload: []byte(v)}),
		},
	})
	switch {
	case err != nil:
		h.Error(err, nil) // the hold may still be current: write again
	case !res.Succeeded:
		h.Complete(history.Fail, errors.New("fenced: the lock's token is no longer current"), nil)
		w.drop(p.ID, st)
	default:
		h.OK(nil)
		st.left--
	}
}

func (w *lock) release(ctx context.Context, p *Process, st *lockState) {
	token := st.m.Token()
	octx, cancel := p.ctx(ctx)
	defer cancel()
	h := p.Env.Rec.Invoke(history.Op{Process: p.ID, F: history.Release, Key: lockKey, Expect: token, Node: p.Node})
	if err := st.m.Unlock(octx); err != nil {
		h.Complete(lockOutcome(history.Release, err), err, nil)
	} else {
		h.OK(nil)
	}
	w.drop(p.ID, st)
}

// drop ends the process's hold; its session closes in the background (a
// hold not released expires after the TTL).
func (w *lock) drop(id int, st *lockState) {
	w.mu.Lock()
	delete(w.sessions, id)
	w.mu.Unlock()
	w.closeSession(st.s)
	st.s, st.m, st.left, st.stallAt = nil, nil, 0, 0
}

func (w *lock) closeSession(s *concurrency.Session) {
	w.closing.Go(func() { _ = s.Close() })
}

// lockOutcome classifies a Mutex error: a refusal the SDK decided without
// changing anything is Fail, the rest as history.Classify says.
func lockOutcome(f history.F, err error) history.Type {
	if errors.Is(err, concurrency.ErrLocked) || errors.Is(err, concurrency.ErrLost) || errors.Is(err, concurrency.ErrSessionClosed) {
		return history.Fail
	}
	return history.Classify(f, err)
}

// Final closes the processes' sessions, then reads the events stream and
// the protected key.
func (w *lock) Final(ctx context.Context, env *Env) error {
	w.mu.Lock()
	for _, s := range w.sessions {
		w.closeSession(s)
	}
	clear(w.sessions)
	w.mu.Unlock()
	w.closing.Wait()

	const finalProcess = 1 << 20
	var errs []error
	if !finalReadPartition(ctx, env, finalProcess, w.event) {
		errs = append(errs, errors.New("workload: final read of the events failed 5 times"))
	}
	ok := false
	key := w.state + "/" + valueKey
	for try := 0; try < 5 && !ok; try++ {
		h := env.Rec.Invoke(history.Op{Process: finalProcess, F: history.Read, Key: key})
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		e, err := env.Any.Get(rctx, w.state, valueKey)
		cancel()
		switch {
		case errors.Is(err, flowmesh.ErrNotFound):
			h.OK(nil)
		case err != nil:
			h.Error(err, nil)
			continue
		default:
			h.OK(func(o *history.Op) { o.Value, o.Revision = string(e.Value), e.Revision })
		}
		ok = true
	}
	if !ok {
		errs = append(errs, errors.New("workload: final read of the protected key failed 5 times"))
	}
	return errors.Join(errs...)
}

func (w *lock) Check(ops []history.Op, _ []history.Window, _ string) map[string]checker.Result {
	return map[string]checker.Result{"lock": checker.CheckLock(ops, LockCheckConfig(w.cfg))}
}

// LockCheckConfig is the lock checker's configuration for a run of cfg.
func LockCheckConfig(cfg Config) checker.LockConfig {
	w := newLock(cfg)
	return checker.LockConfig{Events: w.event, Value: w.state + "/" + valueKey}
}
