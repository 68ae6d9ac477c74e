package concurrency

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/flowmesh/flowmesh"
)

// KV is what a Session needs of a node.
type KV interface {
	flowmesh.KVManager
	flowmesh.TxnManager
}

var (
	// ErrLocked is TryLock's answer when another session holds the mutex.
	ErrLocked = errors.New("concurrency: mutex is locked by another session")
	// ErrLost: the session no longer holds a lock it took (it expired or
	// was deleted): writes fenced by its token are refused.
	ErrLost = errors.New("concurrency: lock lost")
	// ErrSessionClosed: the session was closed or lost a lock.
	ErrSessionClosed = errors.New("concurrency: session closed")
)

// DefaultTTL is a session's TTL unless WithTTL sets one.
const DefaultTTL = 60 * time.Second

// SessionOption configures a Session.
type SessionOption func(*Session)

// WithTTL sets how long a lock outlives its session's last keep-alive
// (at least one second). Keep-alives run every TTL/3.
func WithTTL(ttl time.Duration) SessionOption { return func(s *Session) { s.ttl = ttl } }

// Session holds locks on one KV store and keeps their keys alive until it
// is closed or loses one.
type Session struct {
	kv   KV
	path string
	id   string
	ttl  time.Duration

	mu     sync.Mutex
	held   map[string]uint64 // key -> token
	done   chan struct{}
	ended  bool
	stop   chan struct{}
	wg     sync.WaitGroup
	closed sync.Once
}

// NewSession starts a session on the KV store at path.
func NewSession(kv KV, path string, opts ...SessionOption) (*Session, error) {
	if err := flowmesh.ValidatePath(path); err != nil {
		return nil, err
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("concurrency: session id: %w", err)
	}
	s := &Session{kv: kv, path: path, id: hex.EncodeToString(b[:]), ttl: DefaultTTL,
		held: map[string]uint64{}, done: make(chan struct{}), stop: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if s.ttl < time.Second || s.ttl > flowmesh.MaxTTL {
		return nil, flowmesh.Invalid("ttl", "%v is outside [1s, %v]", s.ttl, flowmesh.MaxTTL)
	}
	s.wg.Add(1)
	go s.keepAlive()
	return s, nil
}

// ID is the value the session's lock keys hold.
func (s *Session) ID() string { return s.id }

// TTL is the session's TTL.
func (s *Session) TTL() time.Duration { return s.ttl }

// Done is closed when the session ends: Close, or a keep-alive that found
// a lock of the session gone.
func (s *Session) Done() <-chan struct{} { return s.done }

func (s *Session) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.ended = true
		close(s.done)
	}
}

func (s *Session) keepAlive() {
	defer s.wg.Done()
	t := time.NewTicker(s.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.done:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), s.ttl/3)
			err := s.Refresh(ctx)
			cancel()
			if errors.Is(err, ErrLost) {
				return
			}
		}
	}
}

// Refresh renews every lock the session holds now (keep-alive does it every
// TTL/3). A lock found gone ends the session and returns ErrLost.
func (s *Session) Refresh(ctx context.Context) error {
	s.mu.Lock()
	held := make(map[string]uint64, len(s.held))
	for k, t := range s.held {
		held[k] = t
	}
	s.mu.Unlock()
	for key, token := range held {
		res, err := s.kv.Txn(ctx, flowmesh.Txn{
			Compares: []flowmesh.TxnCompare{flowmesh.CompareCreateRevision(s.path, key, flowmesh.CompareEqual, token)},
			Then:     []flowmesh.TxnOp{flowmesh.OpPut(s.path, key, []byte(s.id), s.ttl)},
		})
		if err != nil {
			return err
		}
		if !res.Succeeded {
			s.mu.Lock()
			current := s.held[key] == token
			if current {
				delete(s.held, key)
			}
			s.mu.Unlock()
			if !current {
				continue // unlocked meanwhile: not lost
			}
			s.end()
			return fmt.Errorf("%w: %s (token %d)", ErrLost, key, token)
		}
	}
	return nil
}

// Close stops the keep-alive and releases the session's locks (best
// effort: a lock not released expires after the TTL). It is idempotent.
func (s *Session) Close() error {
	var err error
	s.closed.Do(func() {
		close(s.stop)
		s.wg.Wait()
		s.mu.Lock()
		held := s.held
		s.held = map[string]uint64{}
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for key, token := range held {
			if _, e := s.release(ctx, key, token); e != nil {
				err = errors.Join(err, e)
			}
		}
		s.end()
	})
	return err
}

func (s *Session) release(ctx context.Context, key string, token uint64) (bool, error) {
	res, err := s.kv.Txn(ctx, flowmesh.Txn{
		Compares: []flowmesh.TxnCompare{flowmesh.CompareCreateRevision(s.path, key, flowmesh.CompareEqual, token)},
		Then:     []flowmesh.TxnOp{flowmesh.OpDelete(s.path, key)},
	})
	if err != nil {
		return false, err
	}
	return res.Succeeded, nil
}

// Mutex is a lock on one key of the session's store.
type Mutex struct {
	s     *Session
	key   string
	token uint64
}

// NewMutex returns the mutex named key in s's store. It takes nothing yet.
func NewMutex(s *Session, key string) *Mutex { return &Mutex{s: s, key: key} }

// Key is the lock's key.
func (m *Mutex) Key() string { return m.key }

// Token is the fencing token of the current hold: the lock key's create
// revision, greater than any earlier holder's. 0 when not held.
func (m *Mutex) Token() uint64 { return m.token }

// IsOwner is a transaction compare that holds only while this hold is
// current: put it in every write the lock guards.
func (m *Mutex) IsOwner() flowmesh.TxnCompare {
	return flowmesh.CompareCreateRevision(m.s.path, m.key, flowmesh.CompareEqual, m.token)
}

// TryLock takes the lock if it is free, else returns ErrLocked.
func (m *Mutex) TryLock(ctx context.Context) error {
	ok, _, err := m.try(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return ErrLocked
	}
	return nil
}

// Lock takes the lock, waiting until it is free or ctx ends.
func (m *Mutex) Lock(ctx context.Context) error {
	for {
		ok, rev, err := m.try(ctx)
		if err != nil || ok {
			return err
		}
		if err := m.waitFree(ctx, rev+1); err != nil {
			return err
		}
	}
}

// try puts the key if absent. On failure it returns the revision the
// transaction saw, from which a watch misses no change.
func (m *Mutex) try(ctx context.Context) (bool, uint64, error) {
	s := m.s
	select {
	case <-s.done:
		return false, 0, ErrSessionClosed
	default:
	}
	res, err := s.kv.Txn(ctx, flowmesh.Txn{
		Compares: []flowmesh.TxnCompare{flowmesh.CompareExists(s.path, m.key, false)},
		Then:     []flowmesh.TxnOp{flowmesh.OpPut(s.path, m.key, []byte(s.id), s.ttl), flowmesh.OpGet(s.path, m.key)},
		Else:     []flowmesh.TxnOp{flowmesh.OpGet(s.path, m.key)},
	})
	if err != nil {
		return false, 0, err
	}
	if !res.Succeeded {
		// Held by this session already (another Mutex of it on the same
		// key): it is ours, as in etcd, where the key names the lease.
		if got := res.Results[0]; got.Found && len(got.Entries) == 1 && string(got.Entries[0].Value) == s.id {
			m.token = got.Entries[0].CreateRevision
			return true, 0, nil
		}
		return false, res.Revision, nil
	}
	got := res.Results[1]
	if !got.Found || len(got.Entries) != 1 {
		return false, 0, fmt.Errorf("concurrency: lock %s: the transaction did not read back its key", m.key)
	}
	m.token = got.Entries[0].CreateRevision
	s.mu.Lock()
	s.held[m.key] = m.token
	s.mu.Unlock()
	return true, 0, nil
}

var errFree = errors.New("lock key gone")

// waitFree watches the key from revision from until it is deleted or
// expires (or the history was compacted: try again at once).
func (m *Mutex) waitFree(ctx context.Context, from uint64) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // a lost session stops waiting
		select {
		case <-m.s.done:
			cancel()
		case <-wctx.Done():
		}
	}()
	err := m.s.kv.Watch(wctx, m.s.path, m.key, from, func(ev flowmesh.KVEvent) error {
		if ev.Key == m.key && ev.Type != flowmesh.KVEventPut {
			return errFree
		}
		return nil
	})
	switch {
	case errors.Is(err, errFree), errors.Is(err, flowmesh.ErrCompacted):
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case err == nil || errors.Is(err, context.Canceled):
		return ErrSessionClosed
	}
	return err
}

// Unlock releases the lock. ErrLost: it was no longer held (it expired or
// another session took it), so writes fenced by its token were refused.
func (m *Mutex) Unlock(ctx context.Context) error {
	s := m.s
	token := m.token
	if token == 0 {
		return fmt.Errorf("concurrency: unlock of %s, which this mutex does not hold", m.key)
	}
	ok, err := s.release(ctx, m.key, token)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.held[m.key] == token {
		delete(s.held, m.key)
	}
	s.mu.Unlock()
	m.token = 0
	if !ok {
		return fmt.Errorf("%w: %s (token %d)", ErrLost, m.key, token)
	}
	return nil
}
