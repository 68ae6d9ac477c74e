package flowmeshtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
)

var kvTests = []subtest{
	{"PutGet", testKVPutGet},
	{"GetMissing", testKVGetMissing},
	{"IfRevision", testKVIfRevision},
	{"Delete", testKVDelete},
	{"List", testKVList},
	{"Limits", testKVLimits},
	{"Idempotent", testKVIdempotent},
	{"ReadConsistency", testKVReadConsistency},
	{"ConcurrentPuts", testKVConcurrentPuts},
	{"WatchFromNow", testKVWatchFromNow},
	{"WatchReplay", testKVWatchReplay},
	{"WatchCompacted", testKVWatchCompacted},
	{"WatchStopsOnError", testKVWatchStopsOnError},
	{"WatchWhileWriting", testKVWatchWhileWriting},
	{"UnknownConsistency", testKVUnknownConsistency},
	// Time-dependent: it moves the node's clock.
	{"TTL", testKVTTL},
	{"TTLGoesWithStore", testKVTTLGoesWithStore},
}

func put(t *testing.T, tg Target, path, key, value string, opts flowmesh.KVPutOptions, callOpts ...flowmesh.CallOption) uint64 {
	t.Helper()
	rev, err := tg.KV.Put(testCtx(t), path, key, []byte(value), opts, callOpts...)
	ok(t, fmt.Sprintf("Put(%q)", key), err)
	if rev == 0 {
		t.Fatalf("Put(%q) returned revision 0", key)
	}
	return rev
}

func get(t *testing.T, tg Target, path, key string, opts ...flowmesh.CallOption) flowmesh.KVEntry {
	t.Helper()
	e, err := tg.KV.Get(testCtx(t), path, key, opts...)
	ok(t, fmt.Sprintf("Get(%q)", key), err)
	if e.Key != key {
		t.Errorf("Get(%q).Key = %q", key, e.Key)
	}
	return e
}

func wantEntry(t *testing.T, tg Target, path, key, value string, rev, createRev uint64) {
	t.Helper()
	e := get(t, tg, path, key)
	if string(e.Value) != value || e.Revision != rev || e.CreateRevision != createRev {
		t.Errorf("Get(%q) = value %q revision %d created %d, want %q revision %d created %d", key, e.Value, e.Revision, e.CreateRevision, value, rev, createRev)
	}
}

func wantMissing(t *testing.T, tg Target, path, key, when string) {
	t.Helper()
	e, err := tg.KV.Get(testCtx(t), path, key)
	if err == nil {
		t.Fatalf("%s: Get(%q) = %q at revision %d, want ErrNotFound", when, key, e.Value, e.Revision)
	}
	wantErr(t, when+": Get("+key+")", err, flowmesh.ErrNotFound)
}

func listKeys(t *testing.T, tg Target, path, prefix, after string, limit int, opts ...flowmesh.CallOption) []string {
	t.Helper()
	entries, err := tg.KV.List(testCtx(t), path, prefix, after, limit, opts...)
	ok(t, fmt.Sprintf("List(%q, %q, %d)", prefix, after, limit), err)
	keys := []string{}
	for _, e := range entries {
		keys = append(keys, e.Key)
		if e.Revision == 0 || e.CreateRevision == 0 || e.CreateRevision > e.Revision {
			t.Errorf("List: entry %q has Revision %d CreateRevision %d", e.Key, e.Revision, e.CreateRevision)
		}
	}
	return keys
}

func testKVPutGet(t *testing.T, tg Target) {
	kv := createKV(t, tg, "kv").GetPath()
	r1 := put(t, tg, kv, "a", "1", flowmesh.KVPutOptions{})
	r2 := put(t, tg, kv, "b", "2", flowmesh.KVPutOptions{})
	r3 := put(t, tg, kv, "a", "3", flowmesh.KVPutOptions{})
	if r1 >= r2 || r2 >= r3 {
		t.Errorf("Put revisions %d, %d, %d; want increasing", r1, r2, r3)
	}
	wantEntry(t, tg, kv, "a", "3", r3, r1)
	wantEntry(t, tg, kv, "b", "2", r2, r2)
	if e := get(t, tg, kv, "a"); !e.ExpiresAt.IsZero() {
		t.Errorf("Get(a).ExpiresAt = %v for a key without TTL, want zero", e.ExpiresAt)
	}

	// Values are bytes: empty and binary values round-trip.
	r := put(t, tg, kv, "empty", "", flowmesh.KVPutOptions{})
	if e := get(t, tg, kv, "empty"); len(e.Value) != 0 || e.Revision != r {
		t.Errorf("Get(empty) = %q at %d, want an empty value at %d", e.Value, e.Revision, r)
	}
	bin := []byte{0, 255, 1, 0, '\n'}
	_, err := tg.KV.Put(testCtx(t), kv, "bin", bin, flowmesh.KVPutOptions{})
	ok(t, "Put binary", err)
	if e := get(t, tg, kv, "bin"); !bytes.Equal(e.Value, bin) {
		t.Errorf("Get(bin) = %v, want %v", e.Value, bin)
	}
	// Keys may hold any printable characters, including separators.
	for _, k := range []string{"a/b/c", "with space", "caf\u00e9", "x:y=z"} {
		rev := put(t, tg, kv, k, "v-"+k, flowmesh.KVPutOptions{})
		wantEntry(t, tg, kv, k, "v-"+k, rev, rev)
	}

	// Stores are separate.
	other := createKV(t, tg, "other").GetPath()
	wantMissing(t, tg, other, "a", "another store")
	ro := put(t, tg, other, "a", "other", flowmesh.KVPutOptions{})
	if ro <= r3 {
		t.Errorf("Put on another store: revision %d, want after %d (revisions are the node's raft index)", ro, r3)
	}
	wantEntry(t, tg, kv, "a", "3", r3, r1)

	// After a delete the key starts a new life.
	dr, err := tg.KV.Delete(testCtx(t), kv, "a", flowmesh.KVDeleteOptions{})
	ok(t, "Delete", err)
	r4 := put(t, tg, kv, "a", "4", flowmesh.KVPutOptions{})
	if r4 <= dr {
		t.Errorf("Put after Delete at %d: revision %d, want greater", dr, r4)
	}
	wantEntry(t, tg, kv, "a", "4", r4, r4)
}

func testKVGetMissing(t *testing.T, tg Target) {
	kv := createKV(t, tg, "kv").GetPath()
	wantMissing(t, tg, kv, "nope", "empty store")
	put(t, tg, kv, "abc", "v", flowmesh.KVPutOptions{})
	for _, k := range []string{"ab", "abcd", "ABC", "abc/"} {
		wantMissing(t, tg, kv, k, "neighbour of abc")
	}
}

func testKVIfRevision(t *testing.T, tg Target) {
	ctx := testCtx(t)
	kv := createKV(t, tg, "kv").GetPath()
	created := put(t, tg, kv, "k", "v1", flowmesh.KVPutOptions{IfRevision: flowmesh.Rev(0)})
	wantEntry(t, tg, kv, "k", "v1", created, created)

	tests := []struct {
		name       string
		ifRevision uint64
		wantActual uint64
	}{
		{"must-not-exist on an existing key", 0, created},
		{"older revision", created - 1, created},
		{"newer revision", created + 1000, created},
	}
	for _, tt := range tests {
		rev, err := tg.KV.Put(ctx, kv, "k", []byte("bad"), flowmesh.KVPutOptions{IfRevision: flowmesh.Rev(tt.ifRevision)})
		wantErr(t, "Put with "+tt.name, err, flowmesh.ErrRevisionMismatch)
		var me *flowmesh.RevisionMismatchError
		if !errors.As(err, &me) {
			t.Fatalf("Put with %s: got %T, want *flowmesh.RevisionMismatchError", tt.name, err)
		}
		if me.Key != "k" || me.Expected != tt.ifRevision || me.Actual != tt.wantActual {
			t.Errorf("Put with %s: error %+v, want Key k Expected %d Actual %d", tt.name, *me, tt.ifRevision, tt.wantActual)
		}
		if rev != 0 {
			t.Errorf("Put with %s: revision %d with the error, want 0", tt.name, rev)
		}
	}
	wantEntry(t, tg, kv, "k", "v1", created, created)

	updated := put(t, tg, kv, "k", "v2", flowmesh.KVPutOptions{IfRevision: flowmesh.Rev(created)})
	wantEntry(t, tg, kv, "k", "v2", updated, created)
	_, err := tg.KV.Put(ctx, kv, "k", []byte("v3"), flowmesh.KVPutOptions{IfRevision: flowmesh.Rev(created)})
	wantErr(t, "second Put with the same IfRevision (lost update)", err, flowmesh.ErrRevisionMismatch)
	wantEntry(t, tg, kv, "k", "v2", updated, created)

	// On a missing key only 0 matches, and Actual is 0.
	_, err = tg.KV.Put(ctx, kv, "missing", []byte("x"), flowmesh.KVPutOptions{IfRevision: flowmesh.Rev(updated)})
	wantErr(t, "Put IfRevision on a missing key", err, flowmesh.ErrRevisionMismatch)
	var me *flowmesh.RevisionMismatchError
	if errors.As(err, &me) && me.Actual != 0 {
		t.Errorf("Put IfRevision on a missing key: Actual = %d, want 0", me.Actual)
	}
	wantMissing(t, tg, kv, "missing", "after a failed conditional put")

	// Two racing creators: exactly one wins.
	const racers = 8
	var wins atomic.Int32
	errs := make(chan error, racers)
	for i := range racers {
		go func() {
			_, err := tg.KV.Put(ctx, kv, "race", fmt.Appendf(nil, "%d", i), flowmesh.KVPutOptions{IfRevision: flowmesh.Rev(0)})
			if err == nil {
				wins.Add(1)
			} else if !errors.Is(err, flowmesh.ErrRevisionMismatch) {
				errs <- err
				return
			}
			errs <- nil
		}()
	}
	for range racers {
		if err := <-errs; err != nil {
			t.Errorf("racing create: %v", err)
		}
	}
	if n := wins.Load(); n != 1 {
		t.Errorf("%d racing creates with IfRevision 0 succeeded, want exactly 1", n)
	}
}

func testKVDelete(t *testing.T, tg Target) {
	ctx := testCtx(t)
	kv := createKV(t, tg, "kv").GetPath()
	ra := put(t, tg, kv, "a", "1", flowmesh.KVPutOptions{})
	rb := put(t, tg, kv, "b", "2", flowmesh.KVPutOptions{})

	dr, err := tg.KV.Delete(ctx, kv, "a", flowmesh.KVDeleteOptions{})
	ok(t, "Delete(a)", err)
	if dr <= rb {
		t.Errorf("Delete revision %d, want after the last put %d", dr, rb)
	}
	wantMissing(t, tg, kv, "a", "after Delete")
	if keys := listKeys(t, tg, kv, "", "", 10); !slices.Equal(keys, []string{"b"}) {
		t.Errorf("List after Delete = %v, want [b]", keys)
	}
	// Deleting a missing key changes nothing; it may report ErrNotFound.
	if _, err := tg.KV.Delete(ctx, kv, "a", flowmesh.KVDeleteOptions{}); err != nil {
		wantErr(t, "Delete of a missing key", err, flowmesh.ErrNotFound)
	}

	// Conditional delete: a wrong revision keeps the key.
	for _, bad := range []uint64{0, ra, rb + 1000} {
		_, err := tg.KV.Delete(ctx, kv, "b", flowmesh.KVDeleteOptions{IfRevision: flowmesh.Rev(bad)})
		wantErr(t, fmt.Sprintf("Delete(b) IfRevision %d", bad), err, flowmesh.ErrRevisionMismatch)
		var me *flowmesh.RevisionMismatchError
		if errors.As(err, &me) && me.Actual != rb {
			t.Errorf("Delete(b) IfRevision %d: Actual = %d, want %d", bad, me.Actual, rb)
		}
	}
	wantEntry(t, tg, kv, "b", "2", rb, rb)
	dr2, err := tg.KV.Delete(ctx, kv, "b", flowmesh.KVDeleteOptions{IfRevision: flowmesh.Rev(rb)})
	ok(t, "Delete(b) with the current revision", err)
	if dr2 <= dr {
		t.Errorf("second Delete revision %d, want after %d", dr2, dr)
	}
	wantMissing(t, tg, kv, "b", "after a conditional Delete")
	_, err = tg.KV.Delete(ctx, kv, "b", flowmesh.KVDeleteOptions{IfRevision: flowmesh.Rev(rb)})
	wantErr(t, "Delete of a deleted key IfRevision", err, flowmesh.ErrRevisionMismatch, flowmesh.ErrNotFound)
}

func testKVList(t *testing.T, tg Target) {
	ctx := testCtx(t)
	kv := createKV(t, tg, "kv").GetPath()
	// Written out of order; List returns key order.
	for _, k := range []string{"p/d", "q/x", "p/b", "p/a", "p", "p/e", "o", "p/c", "p0"} {
		put(t, tg, kv, k, "v-"+k, flowmesh.KVPutOptions{})
	}
	tests := []struct {
		prefix, after string
		limit         int
		want          []string
	}{
		{"p/", "", 10, []string{"p/a", "p/b", "p/c", "p/d", "p/e"}},
		{"p/", "", 2, []string{"p/a", "p/b"}},
		{"p/", "p/b", 2, []string{"p/c", "p/d"}},
		{"p/", "p/d", 2, []string{"p/e"}},
		{"p/", "p/e", 2, []string{}},
		{"p/", "p/bb", 10, []string{"p/c", "p/d", "p/e"}},
		{"p/", "a", 10, []string{"p/a", "p/b", "p/c", "p/d", "p/e"}},
		{"p", "", 10, []string{"p", "p/a", "p/b", "p/c", "p/d", "p/e", "p0"}},
		{"", "", 100, []string{"o", "p", "p/a", "p/b", "p/c", "p/d", "p/e", "p0", "q/x"}},
		{"", "p0", 100, []string{"q/x"}},
		{"r", "", 10, []string{}},
		{"p/c", "", 10, []string{"p/c"}},
	}
	for _, tt := range tests {
		if got := listKeys(t, tg, kv, tt.prefix, tt.after, tt.limit); !slices.Equal(got, tt.want) {
			t.Errorf("List(%q, %q, %d) = %v, want %v", tt.prefix, tt.after, tt.limit, got, tt.want)
		}
	}
	entries, err := tg.KV.List(ctx, kv, "p/", "", 10)
	ok(t, "List", err)
	for _, e := range entries {
		if want := "v-" + e.Key; string(e.Value) != want {
			t.Errorf("List entry %q value %q, want %q", e.Key, e.Value, want)
		}
		if cur := get(t, tg, kv, e.Key); cur.Revision != e.Revision || cur.CreateRevision != e.CreateRevision {
			t.Errorf("List entry %q revisions %d/%d, Get says %d/%d", e.Key, e.Revision, e.CreateRevision, cur.Revision, cur.CreateRevision)
		}
	}
	// Paging through with after = the last key visits every key once.
	var all []string
	after := ""
	for range 20 {
		page := listKeys(t, tg, kv, "", after, 2)
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1]
	}
	if want := tests[8].want; !slices.Equal(all, want) {
		t.Errorf("paging with limit 2 visited %v, want %v", all, want)
	}
	// Limit 0 means no limit, as in etcd (bounded by MaxListEntries); an
	// empty answer would hide every key. Refusing it is also clear.
	if entries, err := tg.KV.List(ctx, kv, "p/", "", 0); err != nil {
		wantErr(t, "List with limit 0", err, flowmesh.ErrInvalidArgument)
	} else if len(entries) != 5 {
		t.Errorf("List(\"p/\", \"\", 0) = %d entries with no error, want all 5 (0 = no limit) or ErrInvalidArgument", len(entries))
	}
	_, err = tg.KV.List(ctx, kv, "", "", flowmesh.MaxListEntries+1)
	if err != nil {
		wantErr(t, "List with limit over MaxListEntries", err, flowmesh.ErrInvalidArgument, flowmesh.ErrLimitExceeded)
	}
}

func testKVLimits(t *testing.T, tg Target) {
	ctx := testCtx(t)
	kv := createKV(t, tg, "kv").GetPath()
	maxKey := strings.Repeat("k", flowmesh.MaxKeyLength)
	put(t, tg, kv, maxKey, "v", flowmesh.KVPutOptions{})
	_, err := tg.KV.Put(ctx, kv, "big", bytesOf(flowmesh.MaxPayloadSize, 'v'), flowmesh.KVPutOptions{})
	ok(t, "Put of a MaxPayloadSize value", err)
	if e := get(t, tg, kv, "big"); !bytes.Equal(e.Value, bytesOf(flowmesh.MaxPayloadSize, 'v')) {
		t.Errorf("value of MaxPayloadSize did not read back intact")
	}

	tests := []struct {
		name  string
		key   string
		value []byte
		opts  flowmesh.KVPutOptions
		errs  []error
	}{
		{"empty key", "", []byte("v"), flowmesh.KVPutOptions{}, []error{flowmesh.ErrInvalidArgument}},
		{"key over MaxKeyLength", maxKey + "k", []byte("v"), flowmesh.KVPutOptions{}, []error{flowmesh.ErrInvalidArgument, flowmesh.ErrLimitExceeded}},
		{"value over MaxPayloadSize", "v", bytesOf(flowmesh.MaxPayloadSize+1, 'v'), flowmesh.KVPutOptions{}, []error{flowmesh.ErrLimitExceeded}},
		{"negative TTL", "t", []byte("v"), flowmesh.KVPutOptions{TTL: -time.Second}, []error{flowmesh.ErrInvalidArgument}},
		{"TTL over MaxTTL", "t", []byte("v"), flowmesh.KVPutOptions{TTL: flowmesh.MaxTTL + time.Second}, []error{flowmesh.ErrInvalidArgument, flowmesh.ErrLimitExceeded}},
	}
	for _, tt := range tests {
		rev, err := tg.KV.Put(ctx, kv, tt.key, tt.value, tt.opts)
		wantErr(t, "Put with "+tt.name, err, tt.errs...)
		if rev != 0 {
			t.Errorf("Put with %s: revision %d with the error, want 0", tt.name, rev)
		}
	}
	_, err = tg.KV.Get(ctx, kv, "")
	wantErr(t, "Get of an empty key", err, flowmesh.ErrInvalidArgument, flowmesh.ErrNotFound)
	_, err = tg.KV.Delete(ctx, kv, "", flowmesh.KVDeleteOptions{})
	wantErr(t, "Delete of an empty key", err, flowmesh.ErrInvalidArgument, flowmesh.ErrNotFound)
	if keys := listKeys(t, tg, kv, "", "", 10); !slices.Equal(keys, []string{"big", maxKey}) {
		t.Errorf("after refused puts List has %d keys, want [big, %d×k]", len(keys), flowmesh.MaxKeyLength)
	}
}

func testKVIdempotent(t *testing.T, tg Target) {
	ctx := testCtx(t)
	kv := createKV(t, tg, "kv").GetPath()
	r1 := put(t, tg, kv, "k", "v1", flowmesh.KVPutOptions{}, flowmesh.WithRequestID("req-1"))
	put(t, tg, kv, "k", "v2", flowmesh.KVPutOptions{})
	// A retry of the first put returns its result and does not undo v2.
	again := put(t, tg, kv, "k", "v1", flowmesh.KVPutOptions{}, flowmesh.WithRequestID("req-1"))
	if again != r1 {
		t.Errorf("repeat of request req-1: revision %d, want the original %d", again, r1)
	}
	if e := get(t, tg, kv, "k"); string(e.Value) != "v2" {
		t.Errorf("after a repeated request Get = %q, want v2 (the repeat changes nothing)", e.Value)
	}
	dr, err := tg.KV.Delete(ctx, kv, "k", flowmesh.KVDeleteOptions{}, flowmesh.WithRequestID("req-2"))
	ok(t, "Delete", err)
	r3 := put(t, tg, kv, "k", "v3", flowmesh.KVPutOptions{})
	dr2, err := tg.KV.Delete(ctx, kv, "k", flowmesh.KVDeleteOptions{}, flowmesh.WithRequestID("req-2"))
	ok(t, "repeated Delete", err)
	if dr2 != dr {
		t.Errorf("repeat of delete request req-2: revision %d, want the original %d", dr2, dr)
	}
	wantEntry(t, tg, kv, "k", "v3", r3, r3)
	// A retried compare-and-swap gets its first answer, not a mismatch
	// against its own write.
	created := put(t, tg, kv, "cas", "1", flowmesh.KVPutOptions{IfRevision: flowmesh.Rev(0)}, flowmesh.WithRequestID("req-3"))
	retried, err := tg.KV.Put(ctx, kv, "cas", []byte("1"), flowmesh.KVPutOptions{IfRevision: flowmesh.Rev(0)}, flowmesh.WithRequestID("req-3"))
	ok(t, "retried conditional Put", err)
	if retried != created {
		t.Errorf("retried conditional Put: revision %d, want the original %d", retried, created)
	}
	wantEntry(t, tg, kv, "cas", "1", created, created)
}

func testKVReadConsistency(t *testing.T, tg Target) {
	kv := createKV(t, tg, "kv").GetPath()
	for i, opt := range []flowmesh.CallOption{
		flowmesh.WithConsistency(flowmesh.Linearizable),
		flowmesh.WithConsistency(flowmesh.Leader),
		flowmesh.WithConsistency(flowmesh.Stale),
		flowmesh.WithMaxStaleness(5 * time.Second),
	} {
		// Every acknowledged write is visible at once on a single node.
		for j := range 5 {
			v := fmt.Sprintf("%d-%d", i, j)
			rev := put(t, tg, kv, "k", v, flowmesh.KVPutOptions{})
			e := get(t, tg, kv, "k", opt)
			if string(e.Value) != v || e.Revision != rev {
				t.Errorf("read with consistency option %d after Put at %d: %q at %d, want %q at %d", i, rev, e.Value, e.Revision, v, rev)
			}
			if keys := listKeys(t, tg, kv, "", "", 10, opt); !slices.Equal(keys, []string{"k"}) {
				t.Errorf("List with consistency option %d = %v, want [k]", i, keys)
			}
		}
	}
}

// watch runs Watch in a goroutine; events arrive on the returned channel,
// and Watch's result on the error channel.
func watch(ctx context.Context, tg Target, path, prefix string, from uint64) (<-chan flowmesh.KVEvent, <-chan error) {
	events := make(chan flowmesh.KVEvent, 1000)
	done := make(chan error, 1)
	go func() {
		done <- tg.KV.Watch(ctx, path, prefix, from, func(e flowmesh.KVEvent) error {
			select {
			case events <- e:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return events, done
}

type wantEvent struct {
	typ   flowmesh.KVEventType
	key   string
	value string
	rev   uint64
}

// receiveEvents waits for len(want) events, skipping those for skipKey.
func receiveEvents(t *testing.T, events <-chan flowmesh.KVEvent, done <-chan error, skipKey string, want []wantEvent) {
	t.Helper()
	timeout := time.After(settleTimeout)
	var last uint64
	for i := 0; i < len(want); {
		select {
		case e := <-events:
			if e.Revision <= last {
				t.Errorf("watch: event %v %q at revision %d after revision %d; want increasing", e.Type, e.Key, e.Revision, last)
			}
			last = e.Revision
			if e.Key == skipKey {
				continue
			}
			w := want[i]
			if e.Type != w.typ || e.Key != w.key || string(e.Value) != w.value || e.Revision != w.rev {
				t.Fatalf("watch event %d = %v %q=%q at %d, want %v %q=%q at %d", i, e.Type, e.Key, e.Value, e.Revision, w.typ, w.key, w.value, w.rev)
			}
			if w.typ != flowmesh.KVEventPut && e.Value != nil {
				t.Errorf("watch event %d: %v carries value %q, want nil", i, e.Type, e.Value)
			}
			i++
		case err := <-done:
			t.Fatalf("Watch returned %v while waiting for event %d (%v %q)", err, i, want[i].typ, want[i].key)
		case <-timeout:
			t.Fatalf("watch: event %d (%v %q at %d) not delivered within %v", i, want[i].typ, want[i].key, want[i].rev, settleTimeout)
		}
	}
}

func noMoreEvents(t *testing.T, events <-chan flowmesh.KVEvent, skipKey string) {
	t.Helper()
	deadline := time.After(100 * time.Millisecond)
	for {
		select {
		case e := <-events:
			if e.Key != skipKey {
				t.Errorf("watch delivered an extra event %v %q at %d", e.Type, e.Key, e.Revision)
			}
		case <-deadline:
			return
		}
	}
}

func stopWatch(t *testing.T, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Watch after cancel returned %v, want context.Canceled", err)
		}
	case <-time.After(settleTimeout):
		t.Fatalf("Watch did not return within %v of its context ending", settleTimeout)
	}
}

func testKVWatchFromNow(t *testing.T, tg Target) {
	kv := createKV(t, tg, "kv").GetPath()
	put(t, tg, kv, "w/before", "old", flowmesh.KVPutOptions{})
	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
	defer cancel()
	events, done := watch(ctx, tg, kv, "w/", 0)

	// "From now on" starts when the watch is in place, which the caller
	// cannot observe: write a marker until one is seen. Changes from then on
	// must all arrive.
	const marker = "w/sync"
	synced := false
	for i := 0; i < 100 && !synced; i++ {
		put(t, tg, kv, marker, fmt.Sprint(i), flowmesh.KVPutOptions{})
		select {
		case e := <-events:
			if e.Key != marker {
				t.Fatalf("watch from now delivered %v %q at %d before any new change", e.Type, e.Key, e.Revision)
			}
			synced = true
		case err := <-done:
			t.Fatalf("Watch returned %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !synced {
		t.Fatalf("watch from now saw none of 100 puts under its prefix")
	}
	ra := put(t, tg, kv, "w/a", "1", flowmesh.KVPutOptions{})
	put(t, tg, kv, "x/outside", "1", flowmesh.KVPutOptions{})
	rd, err := tg.KV.Delete(testCtx(t), kv, "w/a", flowmesh.KVDeleteOptions{})
	ok(t, "Delete", err)
	rb := put(t, tg, kv, "w/b", "2", flowmesh.KVPutOptions{})
	// A failed conditional put is not a change.
	_, err = tg.KV.Put(testCtx(t), kv, "w/b", []byte("bad"), flowmesh.KVPutOptions{IfRevision: flowmesh.Rev(0)})
	wantErr(t, "conditional Put", err, flowmesh.ErrRevisionMismatch)
	rb2 := put(t, tg, kv, "w/b", "3", flowmesh.KVPutOptions{})
	receiveEvents(t, events, done, marker, []wantEvent{
		{flowmesh.KVEventPut, "w/a", "1", ra},
		{flowmesh.KVEventDelete, "w/a", "", rd},
		{flowmesh.KVEventPut, "w/b", "2", rb},
		{flowmesh.KVEventPut, "w/b", "3", rb2},
	})
	noMoreEvents(t, events, marker)
	stopWatch(t, cancel, done)
}

func testKVWatchReplay(t *testing.T, tg Target) {
	kv := createKV(t, tg, "kv").GetPath()
	r1 := put(t, tg, kv, "w/a", "1", flowmesh.KVPutOptions{})
	r2 := put(t, tg, kv, "w/b", "2", flowmesh.KVPutOptions{})
	put(t, tg, kv, "x/outside", "x", flowmesh.KVPutOptions{})
	r3 := put(t, tg, kv, "w/a", "3", flowmesh.KVPutOptions{})
	r4, err := tg.KV.Delete(testCtx(t), kv, "w/b", flowmesh.KVDeleteOptions{})
	ok(t, "Delete", err)
	// Changes in another store never show.
	other := createKV(t, tg, "other").GetPath()
	put(t, tg, other, "w/a", "other", flowmesh.KVPutOptions{})

	history := []wantEvent{
		{flowmesh.KVEventPut, "w/a", "1", r1},
		{flowmesh.KVEventPut, "w/b", "2", r2},
		{flowmesh.KVEventPut, "w/a", "3", r3},
		{flowmesh.KVEventDelete, "w/b", "", r4},
	}
	tests := []struct {
		name string
		from uint64
		skip int // leading history events before from
	}{
		{"from the first revision", r1, 0},
		{"from a middle revision", r2, 1},
		{"from between revisions", r2 + 1, 2},
		{"from the last revision", r4, 3},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
		events, done := watch(ctx, tg, kv, "w/", tt.from)
		receiveEvents(t, events, done, "", history[tt.skip:])
		noMoreEvents(t, events, "")
		// Then live changes follow the history.
		r := put(t, tg, kv, "w/live", tt.name, flowmesh.KVPutOptions{})
		receiveEvents(t, events, done, "", []wantEvent{{flowmesh.KVEventPut, "w/live", tt.name, r}})
		stopWatch(t, cancel, done)
		if t.Failed() {
			return
		}
		history = append(history, wantEvent{flowmesh.KVEventPut, "w/live", tt.name, r})
	}
	// A single key as the prefix.
	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
	defer cancel()
	events, done := watch(ctx, tg, kv, "w/b", r1)
	receiveEvents(t, events, done, "", []wantEvent{history[1], history[3]})
	noMoreEvents(t, events, "")
	stopWatch(t, cancel, done)
}

func testKVWatchCompacted(t *testing.T, tg Target) {
	const history, puts = 5, 40
	kv := createKV(t, tg, "kv", flowmesh.WithHistory(history)).GetPath()
	revs := make([]uint64, puts)
	for i := range revs {
		revs[i] = put(t, tg, kv, "k", fmt.Sprint(i), flowmesh.KVPutOptions{})
	}
	ctx, cancel := context.WithTimeout(testCtx(t), settleTimeout)
	defer cancel()
	err := tg.KV.Watch(ctx, kv, "", revs[0], func(e flowmesh.KVEvent) error {
		return fmt.Errorf("watch from a compacted revision delivered %v at %d", e.Type, e.Revision)
	})
	wantErr(t, "Watch from a compacted revision", err, flowmesh.ErrCompacted)
	var ce *flowmesh.CompactedError
	if !errors.As(err, &ce) {
		t.Fatalf("Watch from a compacted revision: got %T, want *flowmesh.CompactedError", err)
	}
	if ce.Requested != revs[0] || ce.Oldest <= revs[0] || ce.Oldest > revs[puts-history] {
		t.Fatalf("CompactedError = %+v, want Requested %d and Oldest in (%d, %d]", *ce, revs[0], revs[0], revs[puts-history])
	}
	// The oldest retained revision is watchable and replays up to the last put.
	wctx, wcancel := context.WithTimeout(testCtx(t), 30*time.Second)
	defer wcancel()
	events, done := watch(wctx, tg, kv, "", ce.Oldest)
	var want []wantEvent
	for i, r := range revs {
		if r >= ce.Oldest {
			want = append(want, wantEvent{flowmesh.KVEventPut, "k", fmt.Sprint(i), r})
		}
	}
	if len(want) < history {
		t.Errorf("Oldest retained revision %d keeps %d changes, want at least WithHistory's %d", ce.Oldest, len(want), history)
	}
	receiveEvents(t, events, done, "", want)
	stopWatch(t, wcancel, done)
	// The current value is not affected by compaction.
	wantEntry(t, tg, kv, "k", fmt.Sprint(puts-1), revs[puts-1], revs[0])
}

func testKVWatchStopsOnError(t *testing.T, tg Target) {
	kv := createKV(t, tg, "kv").GetPath()
	r1 := put(t, tg, kv, "a", "1", flowmesh.KVPutOptions{})
	put(t, tg, kv, "b", "2", flowmesh.KVPutOptions{})
	put(t, tg, kv, "c", "3", flowmesh.KVPutOptions{})
	ctx, cancel := context.WithTimeout(testCtx(t), settleTimeout)
	defer cancel()
	stop := errors.New("flowmeshtest: stop")
	var calls atomic.Int32
	err := tg.KV.Watch(ctx, kv, "", r1, func(flowmesh.KVEvent) error {
		if calls.Add(1) == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Errorf("Watch whose callback failed returned %v, want the callback's error", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("callback called %d times after returning an error on call 2, want 2", n)
	}
}

func testKVTTL(t *testing.T, tg Target) {
	needClock(t, tg)
	kv := createKV(t, tg, "kv").GetPath()
	rk := put(t, tg, kv, "k", "short", flowmesh.KVPutOptions{TTL: 10 * time.Second})
	put(t, tg, kv, "renewed", "v1", flowmesh.KVPutOptions{TTL: 10 * time.Second})
	put(t, tg, kv, "renewed", "v2", flowmesh.KVPutOptions{TTL: time.Hour})
	// As in etcd and Redis, a put without TTL makes the key permanent.
	put(t, tg, kv, "cleared", "v1", flowmesh.KVPutOptions{TTL: 10 * time.Second})
	put(t, tg, kv, "cleared", "v2", flowmesh.KVPutOptions{})
	if e := get(t, tg, kv, "cleared"); !e.ExpiresAt.IsZero() {
		t.Errorf("key put with a TTL, then without: ExpiresAt = %v, want zero", e.ExpiresAt)
	}
	rp := put(t, tg, kv, "permanent", "v", flowmesh.KVPutOptions{})
	e := get(t, tg, kv, "k")
	if string(e.Value) != "short" || e.ExpiresAt.IsZero() {
		t.Fatalf("before expiry Get(k) = %q expires %v, want %q with an expiry", e.Value, e.ExpiresAt, "short")
	}
	if r := get(t, tg, kv, "renewed"); r.ExpiresAt.Sub(e.ExpiresAt) < 50*time.Minute {
		t.Errorf("renewed key expires at %v, k at %v; want the later put's 1h TTL", r.ExpiresAt, e.ExpiresAt)
	}
	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
	defer cancel()
	events, done := watch(ctx, tg, kv, "k", rk)
	receiveEvents(t, events, done, "", []wantEvent{{flowmesh.KVEventPut, "k", "short", rk}})

	advance(t, tg, 5*time.Second)
	get(t, tg, kv, "k") // half-way: still there
	advance(t, tg, 6*time.Second)
	// An expired key is never returned, even before the leader's expiry
	// command has been applied.
	if e, err := tg.KV.Get(testCtx(t), kv, "k"); err == nil {
		t.Errorf("Get(k) right after its TTL passed = %q, want ErrNotFound: an expired key is never returned", e.Value)
	}
	eventually(t, settleTimeout, "key k expires after its TTL", func() error {
		e, err := tg.KV.Get(testCtx(t), kv, "k")
		if err == nil {
			return fmt.Errorf("Get(k) = %q", e.Value)
		}
		if !errors.Is(err, flowmesh.ErrNotFound) {
			t.Fatalf("Get(k) after TTL: %v, want ErrNotFound", err)
		}
		return nil
	})
	if keys := listKeys(t, tg, kv, "", "", 10); !slices.Equal(keys, []string{"cleared", "permanent", "renewed"}) {
		t.Errorf("List after expiry = %v, want [cleared permanent renewed]", keys)
	}
	wantEntry(t, tg, kv, "permanent", "v", rp, rp)
	// The expiry is a change like any other, after the put.
	select {
	case ev := <-events:
		if ev.Type != flowmesh.KVEventExpire || ev.Key != "k" || ev.Value != nil || ev.Revision <= rk {
			t.Errorf("watch after expiry: %v %q=%q at %d, want expire of k after %d", ev.Type, ev.Key, ev.Value, ev.Revision, rk)
		}
	case err := <-done:
		t.Fatalf("Watch returned %v", err)
	case <-time.After(settleTimeout):
		t.Errorf("watch saw no expire event for k within %v", settleTimeout)
	}
	stopWatch(t, cancel, done)
	// The key can be created again, as new.
	r := put(t, tg, kv, "k", "again", flowmesh.KVPutOptions{IfRevision: flowmesh.Rev(0)})
	wantEntry(t, tg, kv, "k", "again", r, r)
}

func testKVUnknownConsistency(t *testing.T, tg Target) {
	kv := createKV(t, tg, "kv").GetPath()
	put(t, tg, kv, "k", "v", flowmesh.KVPutOptions{})
	_, err := tg.KV.Get(testCtx(t), kv, "k", flowmesh.WithConsistency(flowmesh.Consistency(99)))
	wantErr(t, "Get with an unknown consistency level", err, flowmesh.ErrInvalidArgument)
	_, err = tg.KV.List(testCtx(t), kv, "", "", 10, flowmesh.WithConsistency(flowmesh.Consistency(-1)))
	wantErr(t, "List with an unknown consistency level", err, flowmesh.ErrInvalidArgument)
}

// testKVTTLGoesWithStore checks that a deleted store's pending expiries do
// not reach a store re-created under its name.
func testKVTTLGoesWithStore(t *testing.T, tg Target) {
	needClock(t, tg)
	old := createKV(t, tg, "kv").GetPath()
	put(t, tg, old, "k", "old", flowmesh.KVPutOptions{TTL: 10 * time.Second})
	ok(t, "DeleteResource", tg.Resources.DeleteResource(testCtx(t), old))
	tenant, ns := scope(t)
	r, err := tg.Resources.CreateKVStore(testCtx(t), tenant, ns, "kv")
	ok(t, "CreateKVStore again", err)
	kv := r.GetPath()
	rev := put(t, tg, kv, "k", "new", flowmesh.KVPutOptions{})
	advance(t, tg, 11*time.Second)
	// Wait until the leader's expiry pass has run after the advance (a
	// marker key's expire event), then the new key must still be there.
	marker := put(t, tg, kv, "marker", "m", flowmesh.KVPutOptions{TTL: time.Second})
	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
	defer cancel()
	events, done := watch(ctx, tg, kv, "marker", marker)
	advance(t, tg, 2*time.Second)
	receiveEvents(t, events, done, "", []wantEvent{{flowmesh.KVEventPut, "marker", "m", marker}})
	select {
	case e := <-events:
		if e.Type != flowmesh.KVEventExpire {
			t.Fatalf("watch on marker: %v at %d, want its expiry", e.Type, e.Revision)
		}
	case err := <-done:
		t.Fatalf("Watch returned %v", err)
	case <-time.After(settleTimeout):
		t.Fatalf("marker key not expired within %v", settleTimeout)
	}
	wantEntry(t, tg, kv, "k", "new", rev, rev)
}
