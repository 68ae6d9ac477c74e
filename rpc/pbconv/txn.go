package pbconv

import (
	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// TxnRequest converts a transaction (options are set by the caller).
func TxnRequest(t flowmesh.Txn) *pb.TxnRequest {
	req := &pb.TxnRequest{Then: txnOps(t.Then), Else: txnOps(t.Else)}
	for _, c := range t.Compares {
		pc := &pb.TxnCompare{Target: pb.CompareTarget(c.Target), Op: pb.CompareOp(c.Op), Path: c.Path, Key: c.Key,
			Partition: int32(c.Partition), Number: c.Number, Value: c.Value, Flag: c.Flag}
		if c.Receipt != (flowmesh.Receipt{}) {
			pc.Receipt = Receipt(c.Receipt)
		}
		req.Compares = append(req.Compares, pc)
	}
	return req
}

func txnOps(ops []flowmesh.TxnOp) []*pb.TxnOp {
	out := make([]*pb.TxnOp, len(ops))
	for i, op := range ops {
		p := &pb.TxnOp{}
		switch op.Type {
		case flowmesh.TxnPut:
			p.Op = &pb.TxnOp_Put{Put: &pb.TxnPut{Path: op.Path, Key: op.Key, Value: op.Value, Ttl: Duration(op.TTL)}}
		case flowmesh.TxnDelete:
			p.Op = &pb.TxnOp_Delete{Delete: &pb.TxnKey{Path: op.Path, Key: op.Key}}
		case flowmesh.TxnAppend:
			p.Op = &pb.TxnOp_Append{Append: &pb.TxnAppend{Path: op.Path, Events: StreamEvents(op.Events)}}
		case flowmesh.TxnEnqueue:
			p.Op = &pb.TxnOp_Enqueue{Enqueue: &pb.TxnEnqueue{Path: op.Path, Payload: op.Payload,
				Delay: Duration(op.Enqueue.Delay), DedupId: op.Enqueue.DedupID}}
		case flowmesh.TxnAck:
			p.Op = &pb.TxnOp_Ack{Ack: &pb.TxnReceipt{Path: op.Path, Receipt: Receipt(op.Receipt)}}
		case flowmesh.TxnNack:
			p.Op = &pb.TxnOp_Nack{Nack: &pb.TxnReceipt{Path: op.Path, Receipt: Receipt(op.Receipt), Delay: Duration(op.Delay)}}
		case flowmesh.TxnGet:
			p.Op = &pb.TxnOp_Get{Get: &pb.TxnKey{Path: op.Path, Key: op.Key}}
		case flowmesh.TxnRange:
			p.Op = &pb.TxnOp_Range{Range: &pb.TxnRange{Path: op.Path, Prefix: op.Prefix, After: op.After, Limit: int32(op.Limit)}}
		}
		out[i] = p
	}
	return out
}

// FromTxnRequest converts a request back; an op with no known kind keeps
// type 0, which flowmesh.ValidateTxn refuses.
func FromTxnRequest(req *pb.TxnRequest) flowmesh.Txn {
	t := flowmesh.Txn{Then: fromTxnOps(req.GetThen()), Else: fromTxnOps(req.GetElse())}
	for _, c := range req.GetCompares() {
		t.Compares = append(t.Compares, flowmesh.TxnCompare{Target: flowmesh.CompareTarget(c.GetTarget()), Op: flowmesh.CompareOp(c.GetOp()),
			Path: c.GetPath(), Key: c.GetKey(), Partition: int(c.GetPartition()), Number: c.GetNumber(), Value: c.GetValue(),
			Flag: c.GetFlag(), Receipt: FromReceipt(c.GetReceipt())})
	}
	return t
}

func fromTxnOps(ps []*pb.TxnOp) []flowmesh.TxnOp {
	var out []flowmesh.TxnOp
	for _, p := range ps {
		var op flowmesh.TxnOp
		switch o := p.GetOp().(type) {
		case *pb.TxnOp_Put:
			op = flowmesh.TxnOp{Type: flowmesh.TxnPut, Path: o.Put.GetPath(), Key: o.Put.GetKey(), Value: o.Put.GetValue(), TTL: FromDuration(o.Put.GetTtl())}
		case *pb.TxnOp_Delete:
			op = flowmesh.TxnOp{Type: flowmesh.TxnDelete, Path: o.Delete.GetPath(), Key: o.Delete.GetKey()}
		case *pb.TxnOp_Append:
			op = flowmesh.TxnOp{Type: flowmesh.TxnAppend, Path: o.Append.GetPath(), Events: FromStreamEvents(o.Append.GetEvents())}
		case *pb.TxnOp_Enqueue:
			op = flowmesh.TxnOp{Type: flowmesh.TxnEnqueue, Path: o.Enqueue.GetPath(), Payload: o.Enqueue.GetPayload(),
				Enqueue: flowmesh.QueueEnqueueOptions{Delay: FromDuration(o.Enqueue.GetDelay()), DedupID: o.Enqueue.GetDedupId()}}
		case *pb.TxnOp_Ack:
			op = flowmesh.TxnOp{Type: flowmesh.TxnAck, Path: o.Ack.GetPath(), Receipt: FromReceipt(o.Ack.GetReceipt())}
		case *pb.TxnOp_Nack:
			op = flowmesh.TxnOp{Type: flowmesh.TxnNack, Path: o.Nack.GetPath(), Receipt: FromReceipt(o.Nack.GetReceipt()), Delay: FromDuration(o.Nack.GetDelay())}
		case *pb.TxnOp_Get:
			op = flowmesh.TxnOp{Type: flowmesh.TxnGet, Path: o.Get.GetPath(), Key: o.Get.GetKey()}
		case *pb.TxnOp_Range:
			op = flowmesh.TxnOp{Type: flowmesh.TxnRange, Path: o.Range.GetPath(), Prefix: o.Range.GetPrefix(), After: o.Range.GetAfter(), Limit: int(o.Range.GetLimit())}
		}
		out = append(out, op)
	}
	return out
}

// TxnResponse converts a transaction's result.
func TxnResponse(r *flowmesh.TxnResult) *pb.TxnResponse {
	resp := &pb.TxnResponse{Succeeded: r.Succeeded, Revision: r.Revision, Results: make([]*pb.TxnOpResult, len(r.Results))}
	for i, o := range r.Results {
		po := &pb.TxnOpResult{Revision: o.Revision, JobId: o.JobID, Seq: o.Seq, Found: o.Found, Truncated: o.Truncated}
		for _, p := range o.Positions {
			po.Positions = append(po.Positions, &pb.Position{Partition: int32(p.Partition), Offset: p.Offset})
		}
		for _, e := range o.Entries {
			po.Entries = append(po.Entries, KVEntry(e))
		}
		resp.Results[i] = po
	}
	return resp
}

// FromTxnResponse converts it back; types names each op's type (the
// response does not repeat them).
func FromTxnResponse(resp *pb.TxnResponse, types []flowmesh.TxnOpType) *flowmesh.TxnResult {
	r := &flowmesh.TxnResult{Succeeded: resp.GetSucceeded(), Revision: resp.GetRevision(), Results: make([]flowmesh.TxnOpResult, len(resp.GetResults()))}
	for i, po := range resp.GetResults() {
		o := flowmesh.TxnOpResult{Revision: po.GetRevision(), JobID: po.GetJobId(), Seq: po.GetSeq(), Found: po.GetFound(), Truncated: po.GetTruncated()}
		if i < len(types) {
			o.Type = types[i]
		}
		for _, p := range po.GetPositions() {
			o.Positions = append(o.Positions, flowmesh.Position{Partition: int(p.GetPartition()), Offset: p.GetOffset()})
		}
		if len(po.GetEntries()) > 0 {
			o.Entries = FromKVEntries(po.GetEntries())
		}
		r.Results[i] = o
	}
	return r
}
