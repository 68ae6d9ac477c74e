package rpc_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// TestSameMistakeSameError feeds the same bad arguments to the embedded
// node (storage), the SDK (client, against a real server) and the raw gRPC
// server, and wants the same error from each: the same type (an
// *InvalidArgumentError or a *LimitError, InvalidArgument or
// ResourceExhausted on the wire) and the same text, since all three call
// the root package's check of the operation.
func TestSameMistakeSameError(t *testing.T) {
	n := startNode(t)
	ctx := ctxFor(t)
	c := n.newClient(t)
	cc := dial(t, n.addr)
	s := n.store
	const (
		kv     = "t/ns/kv"
		stream = "t/ns/s"
		queue  = "t/ns/q"
	)
	if _, err := s.CreateKVStore(ctx, "t", "ns", "kv"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateStream(ctx, "t", "ns", "s", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateQueue(ctx, "t", "ns", "q", 1); err != nil {
		t.Fatal(err)
	}
	kvs, streams, queues := pb.NewKVServiceClient(cc), pb.NewStreamServiceClient(cc), pb.NewQueueServiceClient(cc)
	resources, clusters := pb.NewResourceServiceClient(cc), pb.NewClusterServiceClient(cc)

	longKey := strings.Repeat("k", flowmesh.MaxKeyLength+1)
	badUTF8 := "k\xffk"
	big := make([]byte, flowmesh.MaxPayloadSize+1)
	longID := strings.Repeat("r", flowmesh.MaxRequestIDLen+1)
	manyEvents := make([]flowmesh.StreamEvent, flowmesh.MaxBatchEvents+1)
	for i := range manyEvents {
		manyEvents[i].Payload = []byte("e")
	}
	receipt := flowmesh.Receipt{JobID: "1.0", Attempt: 1}
	negative := int64(-1)

	// Each case is one mistake, made through each surface (the generated
	// clients cannot send strings that are not UTF-8, so those go as
	// hand-built bytes). wire nil: the wire cannot carry the mistake.
	type surfaces struct {
		embedded func() error
		sdk      func() error
		wire     func() error
	}
	cases := []struct {
		name string
		surfaces
	}{
		{"put: key over MaxKeyLength", surfaces{
			func() error { _, err := s.Put(ctx, kv, longKey, nil, flowmesh.KVPutOptions{}); return err },
			func() error { _, err := c.Put(ctx, kv, longKey, nil, flowmesh.KVPutOptions{}); return err },
			func() error { _, err := kvs.Put(ctx, &pb.PutRequest{Path: kv, Key: longKey}); return err },
		}},
		{"put: key not UTF-8", surfaces{
			func() error { _, err := s.Put(ctx, kv, badUTF8, nil, flowmesh.KVPutOptions{}); return err },
			func() error { _, err := c.Put(ctx, kv, badUTF8, nil, flowmesh.KVPutOptions{}); return err },
			func() error {
				return rawCall(ctx, cc, pb.KVService_Put_FullMethodName, wireString(wireString(nil, 1, kv), 2, badUTF8))
			},
		}},
		{"put: empty key", surfaces{
			func() error { _, err := s.Put(ctx, kv, "", nil, flowmesh.KVPutOptions{}); return err },
			func() error { _, err := c.Put(ctx, kv, "", nil, flowmesh.KVPutOptions{}); return err },
			func() error { _, err := kvs.Put(ctx, &pb.PutRequest{Path: kv}); return err },
		}},
		{"put: value over MaxPayloadSize", surfaces{
			func() error { _, err := s.Put(ctx, kv, "k", big, flowmesh.KVPutOptions{}); return err },
			func() error { _, err := c.Put(ctx, kv, "k", big, flowmesh.KVPutOptions{}); return err },
			func() error { _, err := kvs.Put(ctx, &pb.PutRequest{Path: kv, Key: "k", Value: big}); return err },
		}},
		{"put: negative TTL", surfaces{
			func() error { _, err := s.Put(ctx, kv, "k", nil, flowmesh.KVPutOptions{TTL: -time.Second}); return err },
			func() error { _, err := c.Put(ctx, kv, "k", nil, flowmesh.KVPutOptions{TTL: -time.Second}); return err },
			func() error {
				_, err := kvs.Put(ctx, &pb.PutRequest{Path: kv, Key: "k", Ttl: durationpb.New(-time.Second)})
				return err
			},
		}},
		{"put: TTL over MaxTTL", surfaces{
			func() error {
				_, err := s.Put(ctx, kv, "k", nil, flowmesh.KVPutOptions{TTL: flowmesh.MaxTTL + 1})
				return err
			},
			func() error {
				_, err := c.Put(ctx, kv, "k", nil, flowmesh.KVPutOptions{TTL: flowmesh.MaxTTL + 1})
				return err
			},
			func() error {
				_, err := kvs.Put(ctx, &pb.PutRequest{Path: kv, Key: "k", Ttl: durationpb.New(flowmesh.MaxTTL + 1)})
				return err
			},
		}},
		{"put: request ID over MaxRequestIDLen", surfaces{
			func() error {
				_, err := s.Put(ctx, kv, "k", nil, flowmesh.KVPutOptions{}, flowmesh.WithRequestID(longID))
				return err
			},
			func() error {
				_, err := c.Put(ctx, kv, "k", nil, flowmesh.KVPutOptions{}, flowmesh.WithRequestID(longID))
				return err
			},
			func() error {
				_, err := kvs.Put(ctx, &pb.PutRequest{Path: kv, Key: "k", Options: &pb.CallOptions{RequestId: longID}})
				return err
			},
		}},
		{"put: bad path", surfaces{
			func() error { _, err := s.Put(ctx, "t/ns", "k", nil, flowmesh.KVPutOptions{}); return err },
			func() error { _, err := c.Put(ctx, "t/ns", "k", nil, flowmesh.KVPutOptions{}); return err },
			func() error { _, err := kvs.Put(ctx, &pb.PutRequest{Path: "t/ns", Key: "k"}); return err },
		}},
		{"get: unknown consistency", surfaces{
			func() error { _, err := s.Get(ctx, kv, "k", flowmesh.WithConsistency(7)); return err },
			func() error { _, err := c.Get(ctx, kv, "k", flowmesh.WithConsistency(7)); return err },
			func() error {
				_, err := kvs.Get(ctx, &pb.GetRequest{Path: kv, Key: "k", Options: &pb.CallOptions{Consistency: 7}})
				return err
			},
		}},
		{"delete: key not UTF-8", surfaces{
			func() error { _, err := s.Delete(ctx, kv, badUTF8, flowmesh.KVDeleteOptions{}); return err },
			func() error { _, err := c.Delete(ctx, kv, badUTF8, flowmesh.KVDeleteOptions{}); return err },
			func() error {
				return rawCall(ctx, cc, pb.KVService_Delete_FullMethodName, wireString(wireString(nil, 1, kv), 2, badUTF8))
			},
		}},
		{"list: limit over MaxListEntries", surfaces{
			func() error { _, err := s.List(ctx, kv, "", "", flowmesh.MaxListEntries+1); return err },
			func() error { _, err := c.List(ctx, kv, "", "", flowmesh.MaxListEntries+1); return err },
			func() error {
				_, err := kvs.List(ctx, &pb.ListRequest{Path: kv, Limit: flowmesh.MaxListEntries + 1})
				return err
			},
		}},
		{"list: prefix over MaxKeyLength", surfaces{
			func() error { _, err := s.List(ctx, kv, longKey, "", 10); return err },
			func() error { _, err := c.List(ctx, kv, longKey, "", 10); return err },
			func() error {
				_, err := kvs.List(ctx, &pb.ListRequest{Path: kv, Prefix: longKey, Limit: 10})
				return err
			},
		}},
		{"write events: empty batch", surfaces{
			func() error { _, err := s.WriteEvents(ctx, stream, nil); return err },
			func() error { _, err := c.WriteEvents(ctx, stream, nil); return err },
			func() error { _, err := streams.WriteEvents(ctx, &pb.WriteEventsRequest{Path: stream}); return err },
		}},
		{"write events: over MaxBatchEvents", surfaces{
			func() error { _, err := s.WriteEvents(ctx, stream, manyEvents); return err },
			func() error { _, err := c.WriteEvents(ctx, stream, manyEvents); return err },
			func() error {
				evs := make([]*pb.StreamEvent, len(manyEvents))
				for i := range evs {
					evs[i] = &pb.StreamEvent{Payload: []byte("e")}
				}
				_, err := streams.WriteEvents(ctx, &pb.WriteEventsRequest{Path: stream, Events: evs})
				return err
			},
		}},
		{"write events: payload over MaxPayloadSize", surfaces{
			func() error {
				_, err := s.WriteEvents(ctx, stream, []flowmesh.StreamEvent{{Payload: []byte("a")}, {Payload: big}})
				return err
			},
			func() error {
				_, err := c.WriteEvents(ctx, stream, []flowmesh.StreamEvent{{Payload: []byte("a")}, {Payload: big}})
				return err
			},
			func() error {
				_, err := streams.WriteEvents(ctx, &pb.WriteEventsRequest{Path: stream, Events: []*pb.StreamEvent{{Payload: []byte("a")}, {Payload: big}}})
				return err
			},
		}},
		{"write events: header not UTF-8", surfaces{
			func() error {
				_, err := s.WriteEvents(ctx, stream, []flowmesh.StreamEvent{{}, {Headers: map[string]string{"h": badUTF8}}})
				return err
			},
			func() error {
				_, err := c.WriteEvents(ctx, stream, []flowmesh.StreamEvent{{}, {Headers: map[string]string{"h": badUTF8}}})
				return err
			},
			func() error {
				header := wireString(wireString(nil, 1, "h"), 2, badUTF8)                                // map entry: key, value
				event := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), header) // StreamEvent.headers
				req := wireString(nil, 1, stream)
				req = protowire.AppendBytes(protowire.AppendTag(req, 2, protowire.BytesType), nil) // events[0]: empty
				req = protowire.AppendBytes(protowire.AppendTag(req, 2, protowire.BytesType), event)
				return rawCall(ctx, cc, pb.StreamService_WriteEvents_FullMethodName, req)
			},
		}},
		{"write events: negative partition", surfaces{
			func() error {
				_, err := s.WriteEvents(ctx, stream, []flowmesh.StreamEvent{{Partition: -1}})
				return err
			},
			func() error {
				_, err := c.WriteEvents(ctx, stream, []flowmesh.StreamEvent{{Partition: -1}})
				return err
			},
			func() error {
				_, err := streams.WriteEvents(ctx, &pb.WriteEventsRequest{Path: stream, Events: []*pb.StreamEvent{{Partition: -1}}})
				return err
			},
		}},
		{"read: max 0", surfaces{
			func() error { _, err := s.ReadFromOffset(ctx, stream, 0, 0, 0); return err },
			func() error { _, err := c.ReadFromOffset(ctx, stream, 0, 0, 0); return err },
			func() error {
				_, err := streams.ReadFromOffset(ctx, &pb.ReadFromOffsetRequest{Path: stream})
				return err
			},
		}},
		{"read: partition over MaxPartitions", surfaces{
			func() error { _, err := s.ReadFromOffset(ctx, stream, flowmesh.MaxPartitions, 0, 1); return err },
			func() error { _, err := c.ReadFromOffset(ctx, stream, flowmesh.MaxPartitions, 0, 1); return err },
			func() error {
				_, err := streams.ReadFromOffset(ctx, &pb.ReadFromOffsetRequest{Path: stream, Partition: flowmesh.MaxPartitions, Max: 1})
				return err
			},
		}},
		{"commit offset: empty group", surfaces{
			func() error { return s.CommitOffset(ctx, stream, "", 0, 1) },
			func() error { return c.CommitOffset(ctx, stream, "", 0, 1) },
			func() error {
				_, err := streams.CommitOffset(ctx, &pb.CommitOffsetRequest{Path: stream, Offset: 1})
				return err
			},
		}},
		{"enqueue: negative delay", surfaces{
			func() error {
				_, _, err := s.Enqueue(ctx, queue, nil, flowmesh.QueueEnqueueOptions{Delay: -time.Second})
				return err
			},
			func() error {
				_, _, err := c.Enqueue(ctx, queue, nil, flowmesh.QueueEnqueueOptions{Delay: -time.Second})
				return err
			},
			func() error {
				_, err := queues.Enqueue(ctx, &pb.EnqueueRequest{Path: queue, Delay: durationpb.New(-time.Second)})
				return err
			},
		}},
		{"enqueue: payload over MaxPayloadSize", surfaces{
			func() error { _, _, err := s.Enqueue(ctx, queue, big, flowmesh.QueueEnqueueOptions{}); return err },
			func() error { _, _, err := c.Enqueue(ctx, queue, big, flowmesh.QueueEnqueueOptions{}); return err },
			func() error { _, err := queues.Enqueue(ctx, &pb.EnqueueRequest{Path: queue, Payload: big}); return err },
		}},
		{"enqueue: dedup ID not UTF-8", surfaces{
			func() error {
				_, _, err := s.Enqueue(ctx, queue, nil, flowmesh.QueueEnqueueOptions{DedupID: badUTF8})
				return err
			},
			func() error {
				_, _, err := c.Enqueue(ctx, queue, nil, flowmesh.QueueEnqueueOptions{DedupID: badUTF8})
				return err
			},
			func() error {
				return rawCall(ctx, cc, pb.QueueService_Enqueue_FullMethodName, wireString(wireString(nil, 1, queue), 4, badUTF8))
			},
		}},
		{"reserve: visibility over MaxVisibility", surfaces{
			func() error { _, err := s.Reserve(ctx, queue, flowmesh.MaxVisibility+1); return err },
			func() error { _, err := c.Reserve(ctx, queue, flowmesh.MaxVisibility+1); return err },
			func() error {
				_, err := queues.Reserve(ctx, &pb.ReserveRequest{Path: queue, Visibility: durationpb.New(flowmesh.MaxVisibility + 1)})
				return err
			},
		}},
		{"ack: attempt 0", surfaces{
			func() error { return s.Ack(ctx, queue, flowmesh.Receipt{JobID: "1.0"}) },
			func() error { return c.Ack(ctx, queue, flowmesh.Receipt{JobID: "1.0"}) },
			func() error {
				_, err := queues.Ack(ctx, &pb.AckRequest{Path: queue, Receipt: &pb.Receipt{JobId: "1.0"}})
				return err
			},
		}},
		{"ack: empty job ID", surfaces{
			func() error { return s.Ack(ctx, queue, flowmesh.Receipt{Attempt: 1}) },
			func() error { return c.Ack(ctx, queue, flowmesh.Receipt{Attempt: 1}) },
			func() error {
				_, err := queues.Ack(ctx, &pb.AckRequest{Path: queue, Receipt: &pb.Receipt{Attempt: 1}})
				return err
			},
		}},
		{"nack: delay over MaxDelay", surfaces{
			func() error { return s.Nack(ctx, queue, receipt, flowmesh.MaxDelay+1) },
			func() error { return c.Nack(ctx, queue, receipt, flowmesh.MaxDelay+1) },
			func() error {
				_, err := queues.Nack(ctx, &pb.NackRequest{Path: queue, Receipt: &pb.Receipt{JobId: receipt.JobID, Attempt: 1}, Delay: durationpb.New(flowmesh.MaxDelay + 1)})
				return err
			},
		}},
		{"touch: visibility 0", surfaces{
			func() error { return s.Touch(ctx, queue, receipt, 0) },
			func() error { return c.Touch(ctx, queue, receipt, 0) },
			func() error {
				_, err := queues.Touch(ctx, &pb.TouchRequest{Path: queue, Receipt: &pb.Receipt{JobId: receipt.JobID, Attempt: 1}})
				return err
			},
		}},
		{"remove from in-flight: empty job ID", surfaces{
			func() error { return s.RemoveFromInFlight(ctx, queue, "") },
			func() error { return c.RemoveFromInFlight(ctx, queue, "") },
			func() error {
				_, err := queues.RemoveFromInFlight(ctx, &pb.RemoveFromInFlightRequest{Path: queue})
				return err
			},
		}},
		{"list dead: negative limit", surfaces{
			func() error { _, err := s.ListDead(ctx, queue, -1); return err },
			func() error { _, err := c.ListDead(ctx, queue, -1); return err },
			func() error { _, err := queues.ListDead(ctx, &pb.ListDeadRequest{Path: queue, Limit: -1}); return err },
		}},
		{"create stream: empty name", surfaces{
			func() error { _, err := s.CreateStream(ctx, "t", "ns", "", 1); return err },
			func() error { _, err := c.CreateStream(ctx, "t", "ns", "", 1); return err },
			func() error {
				_, err := resources.CreateStream(ctx, &pb.CreateStreamRequest{Tenant: "t", Namespace: "ns", Config: &pb.StreamConfig{Partitions: 1}})
				return err
			},
		}},
		{"create stream: 0 partitions", surfaces{
			func() error { _, err := s.CreateStream(ctx, "t", "ns", "s0", 0); return err },
			func() error { _, err := c.CreateStream(ctx, "t", "ns", "s0", 0); return err },
			func() error {
				_, err := resources.CreateStream(ctx, &pb.CreateStreamRequest{Tenant: "t", Namespace: "ns", Name: "s0", Config: &pb.StreamConfig{}})
				return err
			},
		}},
		// The wire has no partition count (TestCreateQueueWireHasNoPartitions).
		{"create queue: 2 partitions", surfaces{
			func() error { _, err := s.CreateQueue(ctx, "t", "ns", "q2", 2); return err },
			func() error { _, err := c.CreateQueue(ctx, "t", "ns", "q2", 2); return err },
			nil,
		}},
		{"create queue: negative visibility timeout", surfaces{
			func() error {
				_, err := s.CreateQueue(ctx, "t", "ns", "q3", 1, flowmesh.WithVisibilityTimeout(-time.Second))
				return err
			},
			func() error {
				_, err := c.CreateQueue(ctx, "t", "ns", "q3", 1, flowmesh.WithVisibilityTimeout(-time.Second))
				return err
			},
			func() error {
				_, err := resources.CreateQueue(ctx, &pb.CreateQueueRequest{Tenant: "t", Namespace: "ns", Name: "q3",
					Config: &pb.QueueConfig{VisibilityTimeout: durationpb.New(-time.Second)}})
				return err
			},
		}},
		{"create queue: max attempts over the bound", surfaces{
			func() error {
				_, err := s.CreateQueue(ctx, "t", "ns", "q4", 1, flowmesh.WithMaxAttempts(flowmesh.MaxQueueAttempts+1))
				return err
			},
			func() error {
				_, err := c.CreateQueue(ctx, "t", "ns", "q4", 1, flowmesh.WithMaxAttempts(flowmesh.MaxQueueAttempts+1))
				return err
			},
			func() error {
				_, err := resources.CreateQueue(ctx, &pb.CreateQueueRequest{Tenant: "t", Namespace: "ns", Name: "q4",
					Config: &pb.QueueConfig{MaxAttempts: flowmesh.MaxQueueAttempts + 1}})
				return err
			},
		}},
		{"create kv store: negative history", surfaces{
			func() error { _, err := s.CreateKVStore(ctx, "t", "ns", "kv2", flowmesh.WithHistory(-1)); return err },
			func() error { _, err := c.CreateKVStore(ctx, "t", "ns", "kv2", flowmesh.WithHistory(-1)); return err },
			func() error {
				_, err := resources.CreateKVStore(ctx, &pb.CreateKVStoreRequest{Tenant: "t", Namespace: "ns", Name: "kv2", Config: &pb.KVConfig{HistoryRevisions: -1}})
				return err
			},
		}},
		{"list resources: bad namespace", surfaces{
			func() error { _, err := s.ListResources(ctx, "t", "-ns"); return err },
			func() error { _, err := c.ListResources(ctx, "t", "-ns"); return err },
			func() error {
				_, err := resources.ListResources(ctx, &pb.ListResourcesRequest{Tenant: "t", Namespace: "-ns"})
				return err
			},
		}},
		{"set quota: negative limit", surfaces{
			func() error {
				_, err := s.SetQuota(ctx, "t", flowmesh.QuotaLimits{KVKeys: &negative}, false)
				return err
			},
			func() error {
				_, err := c.SetQuota(ctx, "t", flowmesh.QuotaLimits{KVKeys: &negative}, false)
				return err
			},
			func() error {
				_, err := clusters.SetQuota(ctx, &pb.SetQuotaRequest{Tenant: "t", Limits: &pb.QuotaLimits{KvKeys: &negative}})
				return err
			},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.embedded()
			if want == nil {
				t.Fatal("embedded: no error")
			}
			var wantCode codes.Code
			var ia *flowmesh.InvalidArgumentError
			var le *flowmesh.LimitError
			switch {
			case errors.As(want, &ia):
				wantCode = codes.InvalidArgument
			case errors.As(want, &le):
				wantCode = codes.ResourceExhausted
			default:
				t.Fatalf("embedded: %v (%T), want an *InvalidArgumentError or a *LimitError", want, want)
			}

			got := tc.sdk()
			if got == nil || got.Error() != want.Error() {
				t.Errorf("sdk: %v, want %q as the embedded node says", got, want)
			}
			if wantCode == codes.InvalidArgument {
				var gia *flowmesh.InvalidArgumentError
				if !errors.As(got, &gia) || *gia != *ia {
					t.Errorf("sdk: %#v, want %#v", got, ia)
				}
			} else {
				var gle *flowmesh.LimitError
				if !errors.As(got, &gle) || *gle != *le {
					t.Errorf("sdk: %#v, want %#v", got, le)
				}
			}

			if tc.wire == nil {
				return
			}
			st, ok := status.FromError(tc.wire())
			if !ok || st.Code() != wantCode || st.Message() != want.Error() {
				t.Errorf("wire: %v %q, want %v %q", st.Code(), st.Message(), wantCode, want.Error())
			}
		})
	}
}

// wireString appends string field num = v to b without the UTF-8 check
// proto.Marshal makes.
func wireString(b []byte, num protowire.Number, v string) []byte {
	return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), v)
}

// rawCall sends the encoded request req to method and discards the answer.
func rawCall(ctx context.Context, cc *grpc.ClientConn, method string, req []byte) error {
	var resp []byte
	return cc.Invoke(ctx, method, &req, &resp, grpc.ForceCodec(rawCodec{}))
}
