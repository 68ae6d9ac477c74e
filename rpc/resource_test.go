package rpc_test

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// TestCreateQueueWireHasNoPartitions: a queue is one FIFO, so
// CreateQueueRequest has no partition count (field 4 and its name are
// reserved); a request from an old client that still sends one creates the
// queue as any other (the field is unknown and ignored). The founding API's
// argument is checked where it is given (TestSameMistakeSameError).
func TestCreateQueueWireHasNoPartitions(t *testing.T) {
	d := (&pb.CreateQueueRequest{}).ProtoReflect().Descriptor()
	if f := d.Fields().ByNumber(4); f != nil {
		t.Errorf("CreateQueueRequest field 4 is %s, want none", f.Name())
	}
	if f := d.Fields().ByName("partitions"); f != nil {
		t.Errorf("CreateQueueRequest has field %s, want none", f.FullName())
	}
	if !d.ReservedNames().Has("partitions") || !d.ReservedRanges().Has(4) {
		t.Errorf("CreateQueueRequest reserves names %v and ranges %v, want partitions and 4", d.ReservedNames(), d.ReservedRanges())
	}

	n := startNode(t)
	ctx := ctxFor(t)
	cc := dial(t, n.addr)
	var old []byte
	old = wireString(old, 1, "t")
	old = wireString(old, 2, "ns")
	old = wireString(old, 3, "q")
	old = protowire.AppendVarint(protowire.AppendTag(old, 4, protowire.VarintType), 2)
	if err := rawCall(ctx, cc, pb.ResourceService_CreateQueue_FullMethodName, old); err != nil {
		t.Fatalf("CreateQueue with the old field 4: %v, want it ignored", err)
	}
	r, err := n.store.GetResource(ctx, "t/ns/q")
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != flowmesh.KindQueue {
		t.Errorf("got %v, want a queue", r.Kind)
	}
}
