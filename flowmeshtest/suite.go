package flowmeshtest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
)

// Target is one FlowMesh node (or a client connected to one) under test.
type Target struct {
	Resources flowmesh.ResourceManager
	Streams   flowmesh.StreamManager
	Queues    flowmesh.QueueManager
	KV        flowmesh.KVManager
	// Quotas sets and reads tenant quotas (nil: the Quotas group is skipped).
	Quotas flowmesh.QuotaManager
	// Advance moves the node's stamping clock forward (the FSM decides
	// delays, visibility expiry and TTL from the leader-stamped time). nil
	// when the target's clock cannot be controlled: time-dependent subtests
	// then t.Skip with a reason.
	Advance func(d time.Duration)
}

// Bounds of every wait in the suite. A conforming node on a loaded CI
// machine meets them comfortably; nothing waits without a bound.
const (
	// callTimeout bounds a whole subtest.
	callTimeout = 60 * time.Second
	// settleTimeout bounds polls for effects of leader-proposed commands
	// (TTL expiry, retention) and of long-polls.
	settleTimeout = 10 * time.Second
	pollInterval  = 20 * time.Millisecond
)

type subtest struct {
	name string
	fn   func(t *testing.T, tg Target)
}

// Run runs every conformance subtest. newTarget is called once per
// top-level group (t.Run) and must give a fresh, empty, started node (it
// registers its own cleanup).
func Run(t *testing.T, newTarget func(t *testing.T) Target) {
	groups := []struct {
		name  string
		tests []subtest
		has   func(Target) bool
	}{
		{"Resources", resourceTests, func(tg Target) bool { return tg.Resources != nil }},
		{"Streams", streamTests, func(tg Target) bool { return tg.Resources != nil && tg.Streams != nil }},
		{"Queues", queueTests, func(tg Target) bool { return tg.Resources != nil && tg.Queues != nil }},
		{"QueueBatches", queueBatchTests, func(tg Target) bool { return tg.Resources != nil && batcher(tg) != nil }},
		{"KV", kvTests, func(tg Target) bool { return tg.Resources != nil && tg.KV != nil }},
		{"Txn", txnTests, func(tg Target) bool {
			return tg.Resources != nil && tg.Streams != nil && tg.Queues != nil && tg.KV != nil && txner(tg) != nil
		}},
		{"Quotas", quotaTests, func(tg Target) bool {
			return tg.Resources != nil && tg.Streams != nil && tg.Queues != nil && tg.KV != nil && tg.Quotas != nil
		}},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			tg := newTarget(t)
			if !g.has(tg) {
				t.Skipf("target has no manager for %s", g.name)
			}
			// Subtests share the target and run one after another: Advance
			// moves a clock that every resource on the node sees.
			for _, st := range g.tests {
				t.Run(st.name, func(t *testing.T) { st.fn(t, tg) })
			}
		})
	}
}

// needClock skips a time-dependent subtest when the target's clock cannot
// be controlled.
func needClock(t *testing.T, tg Target) {
	t.Helper()
	if tg.Advance == nil {
		t.Skip("time-dependent: Target.Advance is nil, the node's stamping clock cannot be controlled")
	}
}

// testCtx returns a context bounded by callTimeout and ended with the test.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

// scope returns a tenant and namespace unique to the running subtest, so
// subtests can share a node. The names are deterministic, for debugging.
func scope(t *testing.T) (tenant, namespace string) {
	t.Helper()
	h := fnv.New32a()
	h.Write([]byte(t.Name()))
	leaf := t.Name()
	if i := strings.LastIndexByte(leaf, '/'); i >= 0 {
		leaf = leaf[i+1:]
	}
	var b strings.Builder
	for _, c := range strings.ToLower(leaf) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
		if b.Len() >= 40 {
			break
		}
	}
	return fmt.Sprintf("t%s-%08x", b.String(), h.Sum32()), "ns"
}

// ok fails the test now when err is not nil.
func ok(t *testing.T, op string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", op, err)
	}
}

// wantErr fails the test unless err matches one of targets with errors.Is.
func wantErr(t *testing.T, op string, err error, targets ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got nil error, want %v", op, targets)
	}
	for _, target := range targets {
		if errors.Is(err, target) {
			wantTyped(t, op, err, target)
			return
		}
	}
	t.Fatalf("%s: got error %v (%T), want one matching %v", op, err, err, targets)
}

// wantTyped fails the test unless an error matching a sentinel that has a
// typed form (flowmesh's *...Error types) carries that type, so callers can
// read its fields.
func wantTyped(t *testing.T, op string, err, sentinel error) {
	t.Helper()
	var typed bool
	var want string
	switch sentinel {
	case flowmesh.ErrInvalidArgument:
		var e *flowmesh.InvalidArgumentError
		typed, want = errors.As(err, &e), "*flowmesh.InvalidArgumentError"
	case flowmesh.ErrLimitExceeded:
		var e *flowmesh.LimitError
		typed, want = errors.As(err, &e), "*flowmesh.LimitError"
	case flowmesh.ErrOffsetOutOfRange:
		var e *flowmesh.OffsetOutOfRangeError
		typed, want = errors.As(err, &e), "*flowmesh.OffsetOutOfRangeError"
	case flowmesh.ErrCompacted:
		var e *flowmesh.CompactedError
		typed, want = errors.As(err, &e), "*flowmesh.CompactedError"
	case flowmesh.ErrRevisionMismatch:
		var e *flowmesh.RevisionMismatchError
		typed, want = errors.As(err, &e), "*flowmesh.RevisionMismatchError"
	default:
		return
	}
	if !typed {
		t.Fatalf("%s: got %v (%T), want a %s", op, err, err, want)
	}
}

// wantInvalid fails the test unless err is an *InvalidArgumentError that
// matches ErrInvalidArgument; a non-empty field must be the one it names.
func wantInvalid(t *testing.T, op string, err error, field string) {
	t.Helper()
	wantErr(t, op, err, flowmesh.ErrInvalidArgument)
	var ie *flowmesh.InvalidArgumentError
	if !errors.As(err, &ie) {
		t.Fatalf("%s: got %v (%T), want an *flowmesh.InvalidArgumentError", op, err, err)
	}
	if field != "" && ie.Field != field {
		t.Fatalf("%s: InvalidArgumentError.Field = %q, want %q (error: %v)", op, ie.Field, field, err)
	}
	if ie.Reason == "" {
		t.Errorf("%s: InvalidArgumentError.Reason is empty, want a reason", op)
	}
}

// wantLimit fails the test unless err is a *flowmesh.LimitError that
// matches ErrLimitExceeded and says what was over which limit.
func wantLimit(t *testing.T, op string, err error) {
	t.Helper()
	wantErr(t, op, err, flowmesh.ErrLimitExceeded)
	var le *flowmesh.LimitError
	if !errors.As(err, &le) {
		t.Fatalf("%s: got %v (%T), want a *flowmesh.LimitError", op, err, err)
	}
	if le.What == "" || le.Got <= le.Limit {
		t.Errorf("%s: LimitError %+v, want What set and Got > Limit", op, *le)
	}
}

// eventually calls f until it returns nil, for at most within. It fails the
// test with the last error otherwise.
func eventually(t *testing.T, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %v: %v", what, within, err)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: test ended while waiting: %v", what, err)
		case <-time.After(pollInterval):
		}
	}
}

// advance moves the target's clock forward.
func advance(t *testing.T, tg Target, d time.Duration) {
	t.Helper()
	needClock(t, tg)
	tg.Advance(d)
}

// bytesOf returns n bytes of a recognisable pattern.
func bytesOf(n int, c byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c + byte(i%7)
	}
	return b
}
