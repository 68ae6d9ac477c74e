package flowmeshtest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
)

var resourceTests = []subtest{
	{"CreateGet", testResourceCreateGet},
	{"List", testResourceList},
	{"Delete", testResourceDelete},
	{"DeleteRemovesData", testResourceDeleteRemovesData},
	{"InvalidNames", testResourceInvalidNames},
	{"InvalidConfig", testResourceInvalidConfig},
	{"AlreadyExists", testResourceAlreadyExists},
	{"NotFound", testResourceNotFound},
	{"WrongKind", testResourceWrongKind},
	{"DeleteEndsSubscriptions", testResourceDeleteEndsSubscriptions},
}

// createStream creates a stream in the subtest's scope.
func createStream(t *testing.T, tg Target, name string, partitions int, opts ...flowmesh.StreamOption) *flowmesh.Resource {
	t.Helper()
	tenant, ns := scope(t)
	r, err := tg.Resources.CreateStream(testCtx(t), tenant, ns, name, partitions, opts...)
	ok(t, "CreateStream "+name, err)
	if r == nil {
		t.Fatalf("CreateStream %s: got nil resource and nil error", name)
	}
	return r
}

// createQueue creates a queue in the subtest's scope.
func createQueue(t *testing.T, tg Target, name string, opts ...flowmesh.QueueOption) *flowmesh.Resource {
	t.Helper()
	tenant, ns := scope(t)
	r, err := tg.Resources.CreateQueue(testCtx(t), tenant, ns, name, 1, opts...)
	ok(t, "CreateQueue "+name, err)
	if r == nil {
		t.Fatalf("CreateQueue %s: got nil resource and nil error", name)
	}
	return r
}

// createKV creates a KV store in the subtest's scope.
func createKV(t *testing.T, tg Target, name string, opts ...flowmesh.KVOption) *flowmesh.Resource {
	t.Helper()
	tenant, ns := scope(t)
	r, err := tg.Resources.CreateKVStore(testCtx(t), tenant, ns, name, opts...)
	ok(t, "CreateKVStore "+name, err)
	if r == nil {
		t.Fatalf("CreateKVStore %s: got nil resource and nil error", name)
	}
	return r
}

func checkResource(t *testing.T, op string, got *flowmesh.Resource, tenant, ns, name string, kind flowmesh.Kind) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: got nil resource", op)
	}
	if got.Tenant != tenant || got.Namespace != ns || got.Name != name {
		t.Errorf("%s: got %s/%s/%s, want %s/%s/%s", op, got.Tenant, got.Namespace, got.Name, tenant, ns, name)
	}
	if want := flowmesh.JoinPath(tenant, ns, name); got.GetPath() != want {
		t.Errorf("%s: GetPath() = %q, want %q", op, got.GetPath(), want)
	}
	if got.Kind != kind {
		t.Errorf("%s: Kind = %v, want %v", op, got.Kind, kind)
	}
	if got.CreatedAt.IsZero() {
		t.Errorf("%s: CreatedAt is zero, want the stamped creation time", op)
	}
	if got.Revision == 0 {
		t.Errorf("%s: Revision is 0, want the raft index of the create", op)
	}
	configs := map[flowmesh.Kind]bool{
		flowmesh.KindStream: got.Stream != nil,
		flowmesh.KindQueue:  got.Queue != nil,
		flowmesh.KindKV:     got.KV != nil,
	}
	for k, set := range configs {
		if set != (k == kind) {
			t.Errorf("%s: %v config set = %v, want %v", op, k, set, k == kind)
		}
	}
}

func testResourceCreateGet(t *testing.T, tg Target) {
	ctx := testCtx(t)
	tenant, ns := scope(t)
	rm := tg.Resources

	s, err := rm.CreateStream(ctx, tenant, ns, "events", 3, flowmesh.WithRetention(2*time.Hour, 1<<20))
	ok(t, "CreateStream", err)
	checkResource(t, "CreateStream", s, tenant, ns, "events", flowmesh.KindStream)
	dlq, err := rm.CreateQueue(ctx, tenant, ns, "dead", 0)
	ok(t, "CreateQueue with partitions 0", err)
	checkResource(t, "CreateQueue", dlq, tenant, ns, "dead", flowmesh.KindQueue)
	q, err := rm.CreateQueue(ctx, tenant, ns, "jobs", 1,
		flowmesh.WithVisibilityTimeout(45*time.Second), flowmesh.WithMaxAttempts(7),
		flowmesh.WithDeadLetterQueue(dlq.GetPath()), flowmesh.WithMaxPayload(1000))
	ok(t, "CreateQueue", err)
	checkResource(t, "CreateQueue", q, tenant, ns, "jobs", flowmesh.KindQueue)
	kv, err := rm.CreateKVStore(ctx, tenant, ns, "config", flowmesh.WithHistory(50))
	ok(t, "CreateKVStore", err)
	checkResource(t, "CreateKVStore", kv, tenant, ns, "config", flowmesh.KindKV)

	for _, want := range []*flowmesh.Resource{s, q, kv} {
		got, err := rm.GetResource(ctx, want.GetPath())
		ok(t, "GetResource "+want.GetPath(), err)
		checkResource(t, "GetResource "+want.GetPath(), got, tenant, ns, want.Name, want.Kind)
		if got.Revision != want.Revision {
			t.Errorf("GetResource %s: Revision = %d, want %d as returned by create", want.GetPath(), got.Revision, want.Revision)
		}
		if !got.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("GetResource %s: CreatedAt = %v, want %v as returned by create", want.GetPath(), got.CreatedAt, want.CreatedAt)
		}
	}
	if s.Revision >= q.Revision || q.Revision >= kv.Revision {
		t.Errorf("create revisions = %d, %d, %d; want increasing", s.Revision, q.Revision, kv.Revision)
	}

	got, err := rm.GetResource(ctx, s.GetPath())
	ok(t, "GetResource stream", err)
	if c := got.Stream; c != nil && (c.Partitions != 3 || c.MaxAge != 2*time.Hour || c.MaxBytes != 1<<20) {
		t.Errorf("stream config = %+v, want Partitions 3, MaxAge 2h, MaxBytes 1MiB", *c)
	}
	got, err = rm.GetResource(ctx, q.GetPath())
	ok(t, "GetResource queue", err)
	if c := got.Queue; c != nil {
		want := flowmesh.QueueConfig{VisibilityTimeout: 45 * time.Second, MaxAttempts: 7, DeadLetterQueue: dlq.GetPath(), MaxPayload: 1000}
		if *c != want {
			t.Errorf("queue config = %+v, want %+v", *c, want)
		}
	}
	got, err = rm.GetResource(ctx, kv.GetPath())
	ok(t, "GetResource kv", err)
	if c := got.KV; c != nil && c.HistoryRevisions != 50 {
		t.Errorf("kv config HistoryRevisions = %d, want 50", c.HistoryRevisions)
	}

	// Names of the maximum length and every allowed character are accepted.
	long := strings.Repeat("a", flowmesh.MaxNameLength)
	r, err := rm.CreateStream(ctx, tenant, ns, long, 1)
	ok(t, "CreateStream with a name of MaxNameLength", err)
	checkResource(t, "CreateStream long name", r, tenant, ns, long, flowmesh.KindStream)
	r, err = rm.CreateKVStore(ctx, tenant, ns, "A1_b-2.c")
	ok(t, "CreateKVStore with every allowed character class", err)
	checkResource(t, "CreateKVStore mixed name", r, tenant, ns, "A1_b-2.c", flowmesh.KindKV)
}

func paths(rs []*flowmesh.Resource) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.GetPath())
	}
	slices.Sort(out)
	return out
}

func testResourceList(t *testing.T, tg Target) {
	ctx := testCtx(t)
	tenant, _ := scope(t)
	other := tenant + "-x"
	rm := tg.Resources

	a, err := rm.CreateStream(ctx, tenant, "ns1", "a", 1)
	ok(t, "CreateStream", err)
	b, err := rm.CreateQueue(ctx, tenant, "ns1", "b", 1)
	ok(t, "CreateQueue", err)
	c, err := rm.CreateKVStore(ctx, tenant, "ns2", "c")
	ok(t, "CreateKVStore", err)
	d, err := rm.CreateStream(ctx, other, "ns1", "d", 1)
	ok(t, "CreateStream other tenant", err)

	tests := []struct {
		tenant, namespace string
		want              []string
	}{
		{tenant, "", []string{a.GetPath(), b.GetPath(), c.GetPath()}},
		{tenant, "ns1", []string{a.GetPath(), b.GetPath()}},
		{tenant, "ns2", []string{c.GetPath()}},
		{tenant, "ns3", nil},
		{other, "", []string{d.GetPath()}},
		{tenant + "-none", "", nil},
	}
	for _, tt := range tests {
		got, err := rm.ListResources(ctx, tt.tenant, tt.namespace)
		ok(t, "ListResources "+tt.tenant+" "+tt.namespace, err)
		if gp := paths(got); !slices.Equal(gp, tt.want) {
			t.Errorf("ListResources(%q, %q) = %v, want %v", tt.tenant, tt.namespace, gp, tt.want)
		}
		for _, r := range got {
			if r.Kind == flowmesh.KindUnknown {
				t.Errorf("ListResources(%q, %q): %s has Kind unknown", tt.tenant, tt.namespace, r.GetPath())
			}
		}
	}
}

func testResourceDelete(t *testing.T, tg Target) {
	ctx := testCtx(t)
	rm := tg.Resources
	for _, r := range []*flowmesh.Resource{
		createStream(t, tg, "s", 2), createQueue(t, tg, "q"), createKV(t, tg, "kv"),
	} {
		p := r.GetPath()
		ok(t, "DeleteResource "+p, rm.DeleteResource(ctx, p))
		_, err := rm.GetResource(ctx, p)
		wantErr(t, "GetResource after delete "+p, err, flowmesh.ErrNotFound)
		wantErr(t, "DeleteResource twice "+p, rm.DeleteResource(ctx, p), flowmesh.ErrNotFound)
		tenant, ns := scope(t)
		got, err := rm.ListResources(ctx, tenant, ns)
		ok(t, "ListResources", err)
		if slices.Contains(paths(got), p) {
			t.Errorf("ListResources after delete still has %s", p)
		}
	}
}

// testResourceDeleteRemovesData checks that a resource re-created under the
// name of a deleted one starts empty.
func testResourceDeleteRemovesData(t *testing.T, tg Target) {
	ctx := testCtx(t)
	rm := tg.Resources
	tenant, ns := scope(t)

	if tg.Streams != nil {
		s := createStream(t, tg, "s", 1)
		_, err := tg.Streams.WriteEvents(ctx, s.GetPath(), []flowmesh.StreamEvent{{Payload: []byte("old")}, {Payload: []byte("old")}})
		ok(t, "WriteEvents", err)
		ok(t, "CommitOffset", tg.Streams.CommitOffset(ctx, s.GetPath(), "g", 0, 2))
		ok(t, "DeleteResource stream", rm.DeleteResource(ctx, s.GetPath()))
		s2, err := rm.CreateStream(ctx, tenant, ns, "s", 1)
		ok(t, "CreateStream again", err)
		info, err := tg.Streams.PartitionInfo(ctx, s2.GetPath(), 0)
		ok(t, "PartitionInfo", err)
		if info.Earliest != 0 || info.Next != 0 {
			t.Errorf("re-created stream: PartitionInfo = [%d, %d), want [0, 0)", info.Earliest, info.Next)
		}
		msgs, err := tg.Streams.ReadFromOffset(ctx, s2.GetPath(), 0, 0, 10)
		ok(t, "ReadFromOffset", err)
		if len(msgs) != 0 {
			t.Errorf("re-created stream: read %d messages, want 0", len(msgs))
		}
		_, err = tg.Streams.FetchOffset(ctx, s2.GetPath(), "g", 0)
		wantErr(t, "FetchOffset on re-created stream", err, flowmesh.ErrNotFound)
		pos, err := tg.Streams.WriteEvents(ctx, s2.GetPath(), []flowmesh.StreamEvent{{Payload: []byte("new")}})
		ok(t, "WriteEvents on re-created stream", err)
		if len(pos) != 1 || pos[0].Offset != 0 {
			t.Errorf("re-created stream: first write at %+v, want offset 0", pos)
		}
	}
	if tg.Queues != nil {
		q := createQueue(t, tg, "q")
		for i := range 3 {
			_, _, err := tg.Queues.Enqueue(ctx, q.GetPath(), []byte("old"), flowmesh.QueueEnqueueOptions{DedupID: fmt.Sprint("d", i)})
			ok(t, "Enqueue", err)
		}
		_, err := tg.Queues.Reserve(ctx, q.GetPath(), time.Minute)
		ok(t, "Reserve", err)
		ok(t, "DeleteResource queue", rm.DeleteResource(ctx, q.GetPath()))
		q2, err := rm.CreateQueue(ctx, tenant, ns, "q", 1)
		ok(t, "CreateQueue again", err)
		st, err := tg.Queues.Stats(ctx, q2.GetPath())
		ok(t, "Stats", err)
		if st != (flowmesh.QueueStats{}) {
			t.Errorf("re-created queue: Stats = %+v, want all zero", st)
		}
		job, err := tg.Queues.Reserve(ctx, q2.GetPath(), time.Minute)
		ok(t, "Reserve on re-created queue", err)
		if job != nil {
			t.Errorf("re-created queue: Reserve returned job %s (%q), want none", job.ID, job.Payload)
		}
		// The old queue's DedupIDs went with it.
		id, seq, err := tg.Queues.Enqueue(ctx, q2.GetPath(), []byte("new"), flowmesh.QueueEnqueueOptions{DedupID: "d0"})
		ok(t, "Enqueue on re-created queue", err)
		job, err = tg.Queues.Reserve(ctx, q2.GetPath(), time.Minute)
		ok(t, "Reserve on re-created queue", err)
		if job == nil || string(job.Payload) != "new" || job.ID != id {
			t.Errorf("re-created queue: Enqueue with DedupID d0, used on the deleted queue, returned job %s seq %d; then Reserve = %+v; want that new job reserved", id, seq, job)
		}
	}
	if tg.KV != nil {
		kv := createKV(t, tg, "kv")
		_, err := tg.KV.Put(ctx, kv.GetPath(), "k", []byte("old"), flowmesh.KVPutOptions{})
		ok(t, "Put", err)
		ok(t, "DeleteResource kv", rm.DeleteResource(ctx, kv.GetPath()))
		kv2, err := rm.CreateKVStore(ctx, tenant, ns, "kv")
		ok(t, "CreateKVStore again", err)
		_, err = tg.KV.Get(ctx, kv2.GetPath(), "k")
		wantErr(t, "Get on re-created kv store", err, flowmesh.ErrNotFound)
		entries, err := tg.KV.List(ctx, kv2.GetPath(), "", "", 10)
		ok(t, "List", err)
		if len(entries) != 0 {
			t.Errorf("re-created kv store: List has %d entries, want 0", len(entries))
		}
	}
}

func testResourceInvalidNames(t *testing.T, tg Target) {
	ctx := testCtx(t)
	tenant, ns := scope(t)
	long := strings.Repeat("n", flowmesh.MaxNameLength+1)
	tests := []struct {
		desc                    string
		tenant, namespace, name string
		field                   string
	}{
		{"empty tenant", "", ns, "r", "tenant"},
		{"empty namespace", tenant, "", "r", "namespace"},
		{"empty name", tenant, ns, "", "name"},
		{"long tenant", long, ns, "r", "tenant"},
		{"long namespace", tenant, long, "r", "namespace"},
		{"long name", tenant, ns, long, "name"},
		{"slash in name", tenant, ns, "a/b", "name"},
		{"slash in namespace", tenant, "a/b", "r", "namespace"},
		{"space in tenant", "a b", ns, "r", "tenant"},
		{"leading dash", tenant, ns, "-r", "name"},
		{"leading dot", tenant, ".ns", "r", "namespace"},
		{"non-ASCII", tenant, ns, "caf\u00e9", "name"},
		{"star", tenant, ns, "r*", "name"},
	}
	creates := []struct {
		kind   string
		create func(tenant, namespace, name string) (*flowmesh.Resource, error)
	}{
		{"stream", func(te, n, r string) (*flowmesh.Resource, error) {
			return tg.Resources.CreateStream(ctx, te, n, r, 1)
		}},
		{"queue", func(te, n, r string) (*flowmesh.Resource, error) {
			return tg.Resources.CreateQueue(ctx, te, n, r, 1)
		}},
		{"kv", func(te, n, r string) (*flowmesh.Resource, error) {
			return tg.Resources.CreateKVStore(ctx, te, n, r)
		}},
	}
	for _, c := range creates {
		for _, tt := range tests {
			_, err := c.create(tt.tenant, tt.namespace, tt.name)
			wantInvalid(t, "create "+c.kind+" with "+tt.desc, err, tt.field)
		}
	}
	for _, p := range []string{"", "a", "a/b", "a/b/c/d", tenant + "/" + ns + "/", tenant + "//r", tenant + "/" + ns + "/r r"} {
		_, err := tg.Resources.GetResource(ctx, p)
		wantErr(t, "GetResource("+p+")", err, flowmesh.ErrInvalidArgument)
		wantErr(t, "DeleteResource("+p+")", tg.Resources.DeleteResource(ctx, p), flowmesh.ErrInvalidArgument)
	}
	_, err := tg.Resources.ListResources(ctx, "", "")
	wantInvalid(t, "ListResources with an empty tenant", err, "tenant")
	_, err = tg.Resources.ListResources(ctx, tenant, "bad/ns")
	wantInvalid(t, "ListResources with a bad namespace", err, "namespace")

	got, err := tg.Resources.ListResources(ctx, tenant, "")
	ok(t, "ListResources", err)
	if len(got) != 0 {
		t.Errorf("after only invalid creates ListResources = %v, want none", paths(got))
	}
}

func testResourceInvalidConfig(t *testing.T, tg Target) {
	ctx := testCtx(t)
	tenant, ns := scope(t)
	rm := tg.Resources
	dlq := createQueue(t, tg, "dlq")
	tests := []struct {
		name   string
		create func() (*flowmesh.Resource, error)
		errs   []error
	}{
		{"stream partitions 0", func() (*flowmesh.Resource, error) {
			return rm.CreateStream(ctx, tenant, ns, "s0", 0)
		}, []error{flowmesh.ErrInvalidArgument}},
		{"stream partitions -1", func() (*flowmesh.Resource, error) {
			return rm.CreateStream(ctx, tenant, ns, "s1", -1)
		}, []error{flowmesh.ErrInvalidArgument}},
		{"stream partitions over MaxPartitions", func() (*flowmesh.Resource, error) {
			return rm.CreateStream(ctx, tenant, ns, "s2", flowmesh.MaxPartitions+1)
		}, []error{flowmesh.ErrInvalidArgument, flowmesh.ErrLimitExceeded}},
		{"stream negative retention", func() (*flowmesh.Resource, error) {
			return rm.CreateStream(ctx, tenant, ns, "s3", 1, flowmesh.WithRetention(-time.Hour, 0))
		}, []error{flowmesh.ErrInvalidArgument}},
		{"queue partitions 2", func() (*flowmesh.Resource, error) {
			return rm.CreateQueue(ctx, tenant, ns, "q0", 2)
		}, []error{flowmesh.ErrInvalidArgument}},
		{"queue max payload over MaxPayloadSize", func() (*flowmesh.Resource, error) {
			return rm.CreateQueue(ctx, tenant, ns, "q1", 1, flowmesh.WithMaxPayload(flowmesh.MaxPayloadSize+1))
		}, []error{flowmesh.ErrInvalidArgument, flowmesh.ErrLimitExceeded}},
		{"queue visibility over MaxVisibility", func() (*flowmesh.Resource, error) {
			return rm.CreateQueue(ctx, tenant, ns, "q2", 1, flowmesh.WithVisibilityTimeout(flowmesh.MaxVisibility+time.Second))
		}, []error{flowmesh.ErrInvalidArgument, flowmesh.ErrLimitExceeded}},
		{"queue negative max attempts", func() (*flowmesh.Resource, error) {
			return rm.CreateQueue(ctx, tenant, ns, "q3", 1, flowmesh.WithMaxAttempts(-1))
		}, []error{flowmesh.ErrInvalidArgument}},
		{"queue dead-letter queue missing", func() (*flowmesh.Resource, error) {
			return rm.CreateQueue(ctx, tenant, ns, "q4", 1, flowmesh.WithDeadLetterQueue(flowmesh.JoinPath(tenant, ns, "missing")))
		}, []error{flowmesh.ErrNotFound, flowmesh.ErrInvalidArgument}},
		{"queue dead-letter queue is itself", func() (*flowmesh.Resource, error) {
			return rm.CreateQueue(ctx, tenant, ns, "q5", 1, flowmesh.WithDeadLetterQueue(flowmesh.JoinPath(tenant, ns, "q5")))
		}, []error{flowmesh.ErrNotFound, flowmesh.ErrInvalidArgument}},
		{"kv negative history", func() (*flowmesh.Resource, error) {
			return rm.CreateKVStore(ctx, tenant, ns, "kv0", flowmesh.WithHistory(-1))
		}, []error{flowmesh.ErrInvalidArgument}},
	}
	for _, tt := range tests {
		_, err := tt.create()
		wantErr(t, tt.name, err, tt.errs...)
	}
	_, err := rm.CreateQueue(ctx, tenant, ns, "q0", 2)
	wantInvalid(t, "CreateQueue with partitions 2", err, "partitions")
	_, err = rm.CreateStream(ctx, tenant, ns, "s0", 0)
	wantInvalid(t, "CreateStream with partitions 0", err, "partitions")
	// A missing dead-letter queue is named as such (it read "flowmesh: not
	// found" inside an invalid-argument message).
	_, err = rm.CreateQueue(ctx, tenant, ns, "q7", 1, flowmesh.WithDeadLetterQueue(flowmesh.JoinPath(tenant, ns, "missing")))
	wantInvalid(t, "CreateQueue with a missing dead-letter queue", err, "dead_letter_queue")
	if err == nil || !strings.Contains(err.Error(), "does not exist; create it first") {
		t.Errorf("CreateQueue with a missing dead-letter queue: %v, want it to say the queue does not exist", err)
	}
	// A dead-letter queue must be in the queue's tenant, even one that exists.
	other, err := rm.CreateQueue(ctx, tenant+"-o", ns, "dlq", 1)
	ok(t, "CreateQueue in another tenant", err)
	_, err = rm.CreateQueue(ctx, tenant, ns, "q6", 1, flowmesh.WithDeadLetterQueue(other.GetPath()))
	wantInvalid(t, "CreateQueue with another tenant's dead-letter queue", err, "dead_letter_queue")

	got, err := rm.ListResources(ctx, tenant, ns)
	ok(t, "ListResources", err)
	if gp, want := paths(got), []string{dlq.GetPath()}; !slices.Equal(gp, want) {
		t.Errorf("after invalid creates ListResources = %v, want %v", gp, want)
	}
}

func testResourceAlreadyExists(t *testing.T, tg Target) {
	ctx := testCtx(t)
	tenant, ns := scope(t)
	rm := tg.Resources
	s := createStream(t, tg, "s", 2)
	createQueue(t, tg, "q")
	createKV(t, tg, "kv")
	tests := []struct {
		name   string
		create func() (*flowmesh.Resource, error)
	}{
		{"stream again", func() (*flowmesh.Resource, error) { return rm.CreateStream(ctx, tenant, ns, "s", 2) }},
		{"stream with other partitions", func() (*flowmesh.Resource, error) { return rm.CreateStream(ctx, tenant, ns, "s", 4) }},
		{"queue again", func() (*flowmesh.Resource, error) { return rm.CreateQueue(ctx, tenant, ns, "q", 1) }},
		{"kv again", func() (*flowmesh.Resource, error) { return rm.CreateKVStore(ctx, tenant, ns, "kv") }},
		{"queue over a stream", func() (*flowmesh.Resource, error) { return rm.CreateQueue(ctx, tenant, ns, "s", 1) }},
		{"kv over a queue", func() (*flowmesh.Resource, error) { return rm.CreateKVStore(ctx, tenant, ns, "q") }},
		{"stream over a kv store", func() (*flowmesh.Resource, error) { return rm.CreateStream(ctx, tenant, ns, "kv", 1) }},
	}
	for _, tt := range tests {
		_, err := tt.create()
		wantErr(t, tt.name, err, flowmesh.ErrAlreadyExists)
	}
	got, err := rm.GetResource(ctx, s.GetPath())
	ok(t, "GetResource", err)
	if got.Kind != flowmesh.KindStream || got.Stream == nil || got.Stream.Partitions != 2 || got.Revision != s.Revision {
		t.Errorf("after duplicate creates the stream is %+v, want the original (2 partitions, revision %d)", got, s.Revision)
	}
	// The same name in another namespace or tenant is another resource.
	_, err = rm.CreateStream(ctx, tenant, ns+"2", "s", 1)
	ok(t, "CreateStream same name, other namespace", err)
	_, err = rm.CreateStream(ctx, tenant+"2", ns, "s", 1)
	ok(t, "CreateStream same name, other tenant", err)
}

func testResourceNotFound(t *testing.T, tg Target) {
	ctx := testCtx(t)
	tenant, ns := scope(t)
	p := flowmesh.JoinPath(tenant, ns, "missing")
	_, err := tg.Resources.GetResource(ctx, p)
	wantErr(t, "GetResource", err, flowmesh.ErrNotFound)
	wantErr(t, "DeleteResource", tg.Resources.DeleteResource(ctx, p), flowmesh.ErrNotFound)
	for _, c := range unknownPathCalls(tg) {
		wantErr(t, c.name+" on an unknown path", c.call(ctx, p), flowmesh.ErrNotFound)
	}
}

type pathCall struct {
	name string
	kind flowmesh.Kind
	call func(ctx context.Context, path string) error
}

// unknownPathCalls lists one call per API method that takes a resource path.
func unknownPathCalls(tg Target) []pathCall {
	var calls []pathCall
	if sm := tg.Streams; sm != nil {
		calls = append(calls,
			pathCall{"WriteEvents", flowmesh.KindStream, func(ctx context.Context, p string) error {
				_, err := sm.WriteEvents(ctx, p, []flowmesh.StreamEvent{{Payload: []byte("x")}})
				return err
			}},
			pathCall{"ReadFromOffset", flowmesh.KindStream, func(ctx context.Context, p string) error {
				_, err := sm.ReadFromOffset(ctx, p, 0, 0, 1)
				return err
			}},
			pathCall{"Subscribe", flowmesh.KindStream, func(ctx context.Context, p string) error {
				ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				return sm.Subscribe(ctx, p, 0, 0, func(flowmesh.Message) error { return nil })
			}},
			pathCall{"CommitOffset", flowmesh.KindStream, func(ctx context.Context, p string) error {
				return sm.CommitOffset(ctx, p, "g", 0, 0)
			}},
			pathCall{"FetchOffset", flowmesh.KindStream, func(ctx context.Context, p string) error {
				_, err := sm.FetchOffset(ctx, p, "g", 0)
				return err
			}},
			pathCall{"PartitionInfo", flowmesh.KindStream, func(ctx context.Context, p string) error {
				_, err := sm.PartitionInfo(ctx, p, 0)
				return err
			}},
		)
	}
	if qm := tg.Queues; qm != nil {
		calls = append(calls,
			pathCall{"Enqueue", flowmesh.KindQueue, func(ctx context.Context, p string) error {
				_, _, err := qm.Enqueue(ctx, p, []byte("x"), flowmesh.QueueEnqueueOptions{})
				return err
			}},
			pathCall{"Reserve", flowmesh.KindQueue, func(ctx context.Context, p string) error {
				_, err := qm.Reserve(ctx, p, time.Minute)
				return err
			}},
			pathCall{"ReserveWait", flowmesh.KindQueue, func(ctx context.Context, p string) error {
				_, err := qm.ReserveWait(ctx, p, time.Minute, 100*time.Millisecond)
				return err
			}},
			pathCall{"RemoveFromInFlight", flowmesh.KindQueue, func(ctx context.Context, p string) error {
				return qm.RemoveFromInFlight(ctx, p, "job")
			}},
			pathCall{"Ack", flowmesh.KindQueue, func(ctx context.Context, p string) error {
				return qm.Ack(ctx, p, flowmesh.Receipt{JobID: "job", Attempt: 1})
			}},
			pathCall{"Nack", flowmesh.KindQueue, func(ctx context.Context, p string) error {
				return qm.Nack(ctx, p, flowmesh.Receipt{JobID: "job", Attempt: 1}, 0)
			}},
			pathCall{"Touch", flowmesh.KindQueue, func(ctx context.Context, p string) error {
				return qm.Touch(ctx, p, flowmesh.Receipt{JobID: "job", Attempt: 1}, time.Minute)
			}},
			pathCall{"Stats", flowmesh.KindQueue, func(ctx context.Context, p string) error {
				_, err := qm.Stats(ctx, p)
				return err
			}},
			pathCall{"Purge", flowmesh.KindQueue, func(ctx context.Context, p string) error {
				_, err := qm.Purge(ctx, p)
				return err
			}},
			pathCall{"ListDead", flowmesh.KindQueue, func(ctx context.Context, p string) error {
				_, err := qm.ListDead(ctx, p, 10)
				return err
			}},
			pathCall{"Redrive", flowmesh.KindQueue, func(ctx context.Context, p string) error {
				_, err := qm.Redrive(ctx, p, 0)
				return err
			}},
		)
	}
	if kv := tg.KV; kv != nil {
		calls = append(calls,
			pathCall{"Put", flowmesh.KindKV, func(ctx context.Context, p string) error {
				_, err := kv.Put(ctx, p, "k", []byte("v"), flowmesh.KVPutOptions{})
				return err
			}},
			pathCall{"Get", flowmesh.KindKV, func(ctx context.Context, p string) error {
				_, err := kv.Get(ctx, p, "k")
				return err
			}},
			pathCall{"Delete", flowmesh.KindKV, func(ctx context.Context, p string) error {
				_, err := kv.Delete(ctx, p, "k", flowmesh.KVDeleteOptions{})
				return err
			}},
			pathCall{"List", flowmesh.KindKV, func(ctx context.Context, p string) error {
				_, err := kv.List(ctx, p, "", "", 10)
				return err
			}},
			pathCall{"Watch", flowmesh.KindKV, func(ctx context.Context, p string) error {
				ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				return kv.Watch(ctx, p, "", 0, func(flowmesh.KVEvent) error { return nil })
			}},
		)
	}
	return calls
}

// testResourceWrongKind uses each resource's path with the other kinds' calls.
func testResourceWrongKind(t *testing.T, tg Target) {
	ctx := testCtx(t)
	byKind := map[flowmesh.Kind]*flowmesh.Resource{
		flowmesh.KindStream: createStream(t, tg, "s", 1),
		flowmesh.KindQueue:  createQueue(t, tg, "q"),
		flowmesh.KindKV:     createKV(t, tg, "kv"),
	}
	for _, c := range unknownPathCalls(tg) {
		for kind, r := range byKind {
			if kind == c.kind {
				continue
			}
			wantErr(t, c.name+" on a "+kind.String(), c.call(ctx, r.GetPath()), flowmesh.ErrWrongKind)
		}
	}
	// Queue dead-letter targets must be queues.
	tenant, ns := scope(t)
	_, err := tg.Resources.CreateQueue(ctx, tenant, ns, "q2", 1, flowmesh.WithDeadLetterQueue(byKind[flowmesh.KindStream].GetPath()))
	wantErr(t, "CreateQueue with a stream as dead-letter queue", err, flowmesh.ErrWrongKind, flowmesh.ErrInvalidArgument)
}

// testResourceDeleteEndsSubscriptions checks that deleting a resource ends
// its subscriptions and watches with ErrNotFound instead of leaving them
// waiting forever on data that cannot come.
func testResourceDeleteEndsSubscriptions(t *testing.T, tg Target) {
	if tg.Streams == nil || tg.KV == nil {
		t.Skip("needs streams and KV")
	}
	s := createStream(t, tg, "s", 1).GetPath()
	kv := createKV(t, tg, "kv").GetPath()
	write(t, tg, s, payloads(1, "e"))
	rev := put(t, tg, kv, "k", "v", flowmesh.KVPutOptions{})

	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
	defer cancel()
	msgs, subDone := subscribe(t, ctx, tg, s, 0, 0)
	receive(t, msgs, subDone, 1, 0, "e")
	events, watchDone := watch(ctx, tg, kv, "", rev)
	receiveEvents(t, events, watchDone, "", []wantEvent{{flowmesh.KVEventPut, "k", "v", rev}})

	ok(t, "DeleteResource stream", tg.Resources.DeleteResource(ctx, s))
	ok(t, "DeleteResource kv", tg.Resources.DeleteResource(ctx, kv))
	for _, c := range []struct {
		name string
		done <-chan error
	}{{"Subscribe", subDone}, {"Watch", watchDone}} {
		select {
		case err := <-c.done:
			wantErr(t, c.name+" on a deleted resource", err, flowmesh.ErrNotFound)
		case <-time.After(settleTimeout):
			t.Errorf("%s still running %v after its resource was deleted, want it to end with ErrNotFound", c.name, settleTimeout)
		}
	}
}
