package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// rawCodec sends and receives message bytes as they are, so the fuzzer's
// bytes reach the server's protobuf decoder unchanged.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

type fuzzMethod struct {
	name      string // full method name
	streaming bool
}

// fuzzSkip are the cluster admin calls that change membership or replace
// the state when they succeed; the cluster tests cover them.
var fuzzSkip = map[string]bool{
	"/flowmesh.v1.ClusterService/Join":            true,
	"/flowmesh.v1.ClusterService/Leave":           true,
	"/flowmesh.v1.ClusterService/RemovePeer":      true,
	"/flowmesh.v1.ClusterService/TransferLeader":  true,
	"/flowmesh.v1.ClusterService/SnapshotRestore": true,
}

// fuzzMethods lists every method of the flowmesh.v1 services but fuzzSkip.
func fuzzMethods() []fuzzMethod {
	var out []fuzzMethod
	for _, sd := range []grpc.ServiceDesc{pb.ResourceService_ServiceDesc, pb.StreamService_ServiceDesc,
		pb.QueueService_ServiceDesc, pb.KVService_ServiceDesc, pb.ClusterService_ServiceDesc, pb.TxnService_ServiceDesc} {
		for _, m := range sd.Methods {
			if name := "/" + sd.ServiceName + "/" + m.MethodName; !fuzzSkip[name] {
				out = append(out, fuzzMethod{name, false})
			}
		}
		for _, s := range sd.Streams {
			if name := "/" + sd.ServiceName + "/" + s.StreamName; !fuzzSkip[name] {
				out = append(out, fuzzMethod{name, true})
			}
		}
	}
	return out
}

// fuzzSeeds returns a valid request for each method, against the resources
// FuzzHandlers creates.
func fuzzSeeds() map[string]proto.Message {
	sec := durationpb.New(time.Second)
	opts := &pb.CallOptions{RequestId: "r1"}
	rc := &pb.Receipt{JobId: "1", Attempt: 1}
	const s, q, kv = "t/ns/s", "t/ns/q", "t/ns/kv"
	return map[string]proto.Message{
		"CreateStream":       &pb.CreateStreamRequest{Tenant: "t", Namespace: "ns", Name: "s2", Config: &pb.StreamConfig{Partitions: 2, MaxAge: sec}},
		"CreateQueue":        &pb.CreateQueueRequest{Tenant: "t", Namespace: "ns", Name: "q2", Config: &pb.QueueConfig{VisibilityTimeout: sec, MaxAttempts: 2, DeadLetterQueue: q}},
		"CreateKVStore":      &pb.CreateKVStoreRequest{Tenant: "t", Namespace: "ns", Name: "kv2", Config: &pb.KVConfig{HistoryRevisions: 5}},
		"GetResource":        &pb.GetResourceRequest{Path: s},
		"ListResources":      &pb.ListResourcesRequest{Tenant: "t"},
		"DeleteResource":     &pb.DeleteResourceRequest{Path: "t/ns/s2"},
		"WriteEvents":        &pb.WriteEventsRequest{Path: s, Events: []*pb.StreamEvent{{Payload: []byte("p"), Headers: map[string]string{"h": "v"}, Key: []byte("k")}}, Options: &pb.CallOptions{ProducerId: "p", ProducerSeq: 1}},
		"ReadFromOffset":     &pb.ReadFromOffsetRequest{Path: s, Max: 10},
		"Subscribe":          &pb.SubscribeRequest{Path: s},
		"CommitOffset":       &pb.CommitOffsetRequest{Path: s, Group: "g", Offset: 1, Options: opts},
		"FetchOffset":        &pb.FetchOffsetRequest{Path: s, Group: "g"},
		"PartitionInfo":      &pb.PartitionInfoRequest{Path: s, Options: &pb.CallOptions{Consistency: pb.Consistency_CONSISTENCY_STALE, MaxStaleness: sec}},
		"Enqueue":            &pb.EnqueueRequest{Path: q, Payload: []byte("job"), Delay: sec, DedupId: "d"},
		"Reserve":            &pb.ReserveRequest{Path: q, Visibility: sec, Wait: durationpb.New(10 * time.Millisecond)},
		"RemoveFromInFlight": &pb.RemoveFromInFlightRequest{Path: q, JobId: "1"},
		"Ack":                &pb.AckRequest{Path: q, Receipt: rc},
		"Nack":               &pb.NackRequest{Path: q, Receipt: rc, Delay: sec},
		"Touch":              &pb.TouchRequest{Path: q, Receipt: rc, Visibility: sec},
		"Stats":              &pb.StatsRequest{Path: q},
		"Purge":              &pb.PurgeRequest{Path: q},
		"ListDead":           &pb.ListDeadRequest{Path: q, Limit: 10},
		"Redrive":            &pb.RedriveRequest{Path: q, Max: 1},
		"EnqueueBatch":       &pb.EnqueueBatchRequest{Path: q, Jobs: []*pb.EnqueueBatchItem{{Payload: []byte("a"), Delay: sec, DedupId: "d"}, {Payload: []byte("b")}}, Options: opts},
		"ReserveBatch":       &pb.ReserveBatchRequest{Path: q, Max: 3, Visibility: sec, Wait: durationpb.New(10 * time.Millisecond)},
		"AckBatch":           &pb.AckBatchRequest{Path: q, Receipts: []*pb.Receipt{rc, {JobId: "2", Attempt: 1}}},
		"Put":                &pb.PutRequest{Path: kv, Key: "k", Value: []byte("v"), IfRevision: proto.Uint64(0), Ttl: sec},
		"Txn": &pb.TxnRequest{
			Compares: []*pb.TxnCompare{{Target: pb.CompareTarget_COMPARE_TARGET_KV_EXISTS, Path: kv, Key: "k"},
				{Target: pb.CompareTarget_COMPARE_TARGET_JOB_HELD, Path: q, Receipt: rc, Flag: true}},
			Then: []*pb.TxnOp{{Op: &pb.TxnOp_Put{Put: &pb.TxnPut{Path: kv, Key: "k", Value: []byte("v"), Ttl: sec}}},
				{Op: &pb.TxnOp_Append{Append: &pb.TxnAppend{Path: s, Events: []*pb.StreamEvent{{Payload: []byte("e")}}}}},
				{Op: &pb.TxnOp_Enqueue{Enqueue: &pb.TxnEnqueue{Path: q, Payload: []byte("j"), Delay: sec}}}},
			Else: []*pb.TxnOp{{Op: &pb.TxnOp_Ack{Ack: &pb.TxnReceipt{Path: q, Receipt: rc}}},
				{Op: &pb.TxnOp_Range{Range: &pb.TxnRange{Path: kv, Prefix: "k", Limit: 3}}}},
			Options: opts},
		"Get":          &pb.GetRequest{Path: kv, Key: "k"},
		"Delete":       &pb.DeleteRequest{Path: kv, Key: "k"},
		"List":         &pb.ListRequest{Path: kv, Prefix: "k", Limit: 10},
		"Watch":        &pb.WatchRequest{Path: kv, Prefix: "k", FromRevision: 1},
		"Status":       &pb.StatusRequest{},
		"Members":      &pb.MembersRequest{},
		"SnapshotSave": &pb.SnapshotSaveRequest{},
		"StateHash":    &pb.StateHashRequest{},
		"SetQuota":     &pb.SetQuotaRequest{Tenant: "t", Limits: &pb.QuotaLimits{StoredBytes: proto.Int64(1 << 30), KvKeys: proto.Int64(0)}},
		"GetQuota":     &pb.GetQuotaRequest{Tenant: "t"},
	}
}

// FuzzHandlers throws random and mutated protobuf bytes at every method of a
// real node served over loopback gRPC. Any answer is acceptable except a
// crash, a recovered panic (reported as "flowmesh: internal error") or an
// unknown code; after every input the node must still report SERVING.
func FuzzHandlers(f *testing.F) {
	n := startNode(f)
	methods := fuzzMethods()
	seeds := fuzzSeeds()
	for i, m := range methods {
		short := m.name[strings.LastIndexByte(m.name, '/')+1:]
		seed, ok := seeds[short]
		if !ok {
			f.Fatalf("no seed for %s", m.name)
		}
		b, err := proto.Marshal(seed)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint16(i), b)
		f.Add(uint16(i), []byte{})
		f.Add(uint16(i), []byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	}

	cc, err := grpc.NewClient(n.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { cc.Close() })
	ctx := context.Background()
	for _, p := range []string{"t/ns/s", "t/ns/q", "t/ns/kv"} {
		creates := map[string]proto.Message{
			"t/ns/s":  &pb.CreateStreamRequest{Tenant: "t", Namespace: "ns", Name: "s", Config: &pb.StreamConfig{Partitions: 1}},
			"t/ns/q":  &pb.CreateQueueRequest{Tenant: "t", Namespace: "ns", Name: "q"},
			"t/ns/kv": &pb.CreateKVStoreRequest{Tenant: "t", Namespace: "ns", Name: "kv"},
		}
		method := map[string]string{"t/ns/s": "CreateStream", "t/ns/q": "CreateQueue", "t/ns/kv": "CreateKVStore"}[p]
		if err := cc.Invoke(ctx, "/flowmesh.v1.ResourceService/"+method, creates[p], &pb.CreateResourceResponse{}); err != nil {
			f.Fatalf("create %s: %v", p, err)
		}
	}
	health := healthpb.NewHealthClient(cc)

	f.Fuzz(func(t *testing.T, which uint16, data []byte) {
		m := methods[int(which)%len(methods)]
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var err error
		if m.streaming {
			err = fuzzStream(ctx, cc, m.name, data)
		} else {
			var out []byte
			err = cc.Invoke(ctx, m.name, &data, &out, grpc.ForceCodec(rawCodec{}))
		}
		st := status.Convert(err)
		switch {
		case st.Code() == codes.Unknown:
			t.Errorf("%s(%x): unknown code: %v", m.name, data, err)
		case st.Code() == codes.Internal:
			t.Errorf("%s(%x): internal error (a panic or an untranslated error): %v", m.name, data, err)
		}
		hctx, hcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer hcancel()
		resp, err := health.Check(hctx, &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("after %s(%x): health %v, %v; want SERVING", m.name, data, resp, err)
		}
	})
}

// fuzzStream opens a server stream, sends data and reads what arrives for a
// moment; the stream error, if any, is the call's answer.
func fuzzStream(ctx context.Context, cc *grpc.ClientConn, method string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	s, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	if err := s.SendMsg(&data); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	for {
		var out []byte
		if err := s.RecvMsg(&out); err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the stream ended OK (a whole snapshot, say)
			}
			if ctx.Err() != nil {
				return nil // still streaming when we stopped listening
			}
			return err
		}
	}
}
