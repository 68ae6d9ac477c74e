package workload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/jepsen/checker"
	"github.com/flowmesh/flowmesh/jepsen/history"
)

// kv is the per-key register workload: linearizable reads, blind writes
// and compare-and-swap (a Put with IfRevision = the revision the process
// last saw for the key, 0 when it saw none). Keys are retired after
// OpsPerKey ops, so each key's history stays small enough for porcupine.
// Final phase: a linearizable read of every key used, and a state hash of
// the whole store per node (stale List on each node, hashed here: the
// node exposes no state hash over gRPC).
type kv struct {
	cfg  Config
	path string
	ops  atomic.Int64

	mu     sync.Mutex
	used   map[string]bool
	hashes map[string]string
}

func newKV(cfg Config) *kv {
	return &kv{cfg: cfg.withDefaults(), path: flowmesh.JoinPath(tenant, namespace, "registers"), used: map[string]bool{}}
}

func (w *kv) Setup(ctx context.Context, c *client.Client) error {
	_, err := c.CreateKVStore(ctx, tenant, namespace, "registers")
	if errors.Is(err, flowmesh.ErrAlreadyExists) {
		err = nil
	}
	return err
}

// key picks the key of the next op: one of the Keys keys of the current
// generation; a generation lasts Keys*OpsPerKey ops.
func (w *kv) key(p *Process) string {
	n := w.ops.Add(1) - 1
	gen := n / int64(w.cfg.Keys*w.cfg.OpsPerKey)
	k := fmt.Sprintf("k%d", gen*int64(w.cfg.Keys)+int64(p.Rand.IntN(w.cfg.Keys)))
	w.mu.Lock()
	w.used[k] = true
	w.mu.Unlock()
	return k
}

type kvState struct{ seen map[string]uint64 }

func (w *kv) Step(ctx context.Context, p *Process) {
	st, _ := p.state.(*kvState)
	if st == nil {
		st = &kvState{seen: map[string]uint64{}}
		p.state = st
	}
	key := w.key(p)
	octx, cancel := p.ctx(ctx)
	defer cancel()
	switch r := p.Rand.IntN(10); {
	case r < 4:
		w.read(octx, p, key, p.ID, p.Client, p.Node, st)
	case r < 7:
		v := p.Value()
		h := p.Env.Rec.Invoke(history.Op{Process: p.ID, F: history.Write, Key: key, Value: v, Node: p.Node})
		rev, err := p.Client.Put(octx, w.path, key, []byte(v), flowmesh.KVPutOptions{})
		if err != nil {
			h.Error(err, nil)
			return
		}
		st.seen[key] = rev
		h.OK(func(o *history.Op) { o.Revision = rev })
	default:
		v := p.Value()
		expect := st.seen[key]
		h := p.Env.Rec.Invoke(history.Op{Process: p.ID, F: history.CAS, Key: key, Value: v, Expect: expect, Node: p.Node})
		rev, err := p.Client.Put(octx, w.path, key, []byte(v), flowmesh.KVPutOptions{IfRevision: flowmesh.Rev(expect)})
		if err != nil {
			h.Error(err, nil)
			return
		}
		st.seen[key] = rev
		h.OK(func(o *history.Op) { o.Revision = rev })
	}
}

// read records a linearizable Get; it reports whether the read was ok.
func (w *kv) read(ctx context.Context, p *Process, key string, proc int, c *client.Client, node string, st *kvState) bool {
	h := p.Env.Rec.Invoke(history.Op{Process: proc, F: history.Read, Key: key, Node: node})
	e, err := c.Get(ctx, w.path, key, flowmesh.WithConsistency(w.cfg.Reads))
	switch {
	case errors.Is(err, flowmesh.ErrNotFound):
		h.OK(nil) // absent: "" at revision 0
	case err != nil:
		h.Error(err, nil)
		return false
	default:
		if st != nil {
			st.seen[key] = e.Revision
		}
		h.OK(func(o *history.Op) { o.Value, o.Revision = string(e.Value), e.Revision })
	}
	return true
}

func (w *kv) Final(ctx context.Context, env *Env) error {
	w.mu.Lock()
	keys := make([]string, 0, len(w.used))
	for k := range w.used {
		keys = append(keys, k)
	}
	w.mu.Unlock()
	sort.Strings(keys)
	const finalProcess = 1 << 20
	p := NewProcess(finalProcess, env.Any, "", env.Seed, env)
	var errs []error
	for _, k := range keys {
		for try := 0; try < 5; try++ {
			octx, cancel := p.ctx(ctx)
			ok := w.read(octx, p, k, finalProcess, env.Any, "", nil)
			cancel()
			if ok {
				break
			}
		}
	}
	hashes := map[string]string{}
	for i, n := range env.Nodes {
		h, err := w.stateHash(ctx, env.Direct(i))
		if err != nil {
			errs = append(errs, fmt.Errorf("workload: state hash of %s: %w", n, err))
			continue
		}
		hashes[n] = h
	}
	w.mu.Lock()
	w.hashes = hashes
	w.mu.Unlock()
	return errors.Join(errs...)
}

// stateHash digests every (key, value, revision) of the store as node c
// holds it (stale read, paged).
func (w *kv) stateHash(ctx context.Context, c *client.Client) (string, error) {
	sum := sha256.New()
	after := ""
	for range 10000 {
		lctx, cancel := context.WithTimeout(ctx, 5e9)
		es, err := c.List(lctx, w.path, "", after, 500, flowmesh.WithConsistency(flowmesh.Stale))
		cancel()
		if err != nil {
			return "", err
		}
		if len(es) == 0 {
			return hex.EncodeToString(sum.Sum(nil)), nil
		}
		for _, e := range es {
			fmt.Fprintf(sum, "%q=%q@%d\n", e.Key, e.Value, e.Revision)
		}
		after = es[len(es)-1].Key
	}
	return "", errors.New("workload: list did not end")
}

func (w *kv) Check(ops []history.Op, windows []history.Window, vizPath string) map[string]checker.Result {
	w.mu.Lock()
	hashes := w.hashes
	w.mu.Unlock()
	return map[string]checker.Result{"kv": checker.CheckKV(ops, checker.KVConfig{
		Timeout: w.cfg.PorcupineTimeout, VisualizationPath: vizPath, Windows: windows, StateHashes: hashes,
	})}
}
