package fsm

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
)

// Transactions (flowmesh.Txn): one command evaluates its compares and runs
// one branch's ops. All or nothing comes from checking before changing:
// checkTxnOps walks the branch against an overlay of what its earlier ops
// would do (keys put and deleted, receipts used, dedup IDs seen) and the
// quota the branch needs in all, and only then are the ops applied, with
// the single commands' code. Each op's apply can fail only on what the
// checks decide (or an I/O error, which stops the node as for any command),
// so a transaction that passes its checks applies whole on every replica.

// TxnToPB converts a transaction to its log form.
func TxnToPB(t flowmesh.Txn) *fsmpb.Txn {
	out := &fsmpb.Txn{}
	for _, c := range t.Compares {
		pc := &fsmpb.TxnCompare{Target: int32(c.Target), Op: int32(c.Op), Path: c.Path,
			Key: c.Key, Partition: int32(c.Partition), Number: c.Number, Value: c.Value, Flag: c.Flag}
		if c.Receipt != (flowmesh.Receipt{}) {
			pc.Receipt = &fsmpb.Receipt{JobId: c.Receipt.JobID, Attempt: int32(c.Receipt.Attempt)}
		}
		out.Compares = append(out.Compares, pc)
	}
	out.Then = txnOpsToPB(t.Then)
	out.ElseOps = txnOpsToPB(t.Else)
	return out
}

func txnOpsToPB(ops []flowmesh.TxnOp) []*fsmpb.TxnOp {
	out := make([]*fsmpb.TxnOp, len(ops))
	for i, op := range ops {
		p := &fsmpb.TxnOp{}
		switch op.Type {
		case flowmesh.TxnPut:
			p.Op = &fsmpb.TxnOp_Put{Put: &fsmpb.KVPut{Path: op.Path, Key: op.Key, Value: op.Value, Ttl: int64(op.TTL)}}
		case flowmesh.TxnDelete:
			p.Op = &fsmpb.TxnOp_Delete{Delete: &fsmpb.KVDelete{Path: op.Path, Key: op.Key}}
		case flowmesh.TxnAppend:
			p.Op = &fsmpb.TxnOp_Append{Append: &fsmpb.WriteEvents{Path: op.Path, Events: EventsToPB(op.Events)}}
		case flowmesh.TxnEnqueue:
			p.Op = &fsmpb.TxnOp_Enqueue{Enqueue: &fsmpb.Enqueue{Path: op.Path, Payload: op.Payload,
				Delay: int64(op.Enqueue.Delay), DedupId: op.Enqueue.DedupID}}
		case flowmesh.TxnAck:
			p.Op = &fsmpb.TxnOp_Ack{Ack: &fsmpb.Nack{Path: op.Path, JobId: op.Receipt.JobID, Attempt: int32(op.Receipt.Attempt)}}
		case flowmesh.TxnNack:
			p.Op = &fsmpb.TxnOp_Nack{Nack: &fsmpb.Nack{Path: op.Path, JobId: op.Receipt.JobID, Attempt: int32(op.Receipt.Attempt), Delay: int64(op.Delay)}}
		case flowmesh.TxnGet:
			p.Op = &fsmpb.TxnOp_Get{Get: &fsmpb.TxnRead{Path: op.Path, Key: op.Key}}
		case flowmesh.TxnRange:
			p.Op = &fsmpb.TxnOp_Range{Range: &fsmpb.TxnRead{Path: op.Path, Prefix: op.Prefix, After: op.After, Limit: int32(op.Limit)}}
		}
		out[i] = p
	}
	return out
}

// EventsToPB converts stream events to their log form, headers in key order.
func EventsToPB(events []flowmesh.StreamEvent) []*fsmpb.Event {
	out := make([]*fsmpb.Event, len(events))
	for i, e := range events {
		pe := &fsmpb.Event{Payload: e.Payload, Key: e.Key, Partition: int32(e.Partition)}
		for k, v := range e.Headers {
			pe.Headers = append(pe.Headers, &fsmpb.Header{Key: k, Value: v})
		}
		sort.Slice(pe.Headers, func(a, b int) bool { return pe.Headers[a].Key < pe.Headers[b].Key })
		out[i] = pe
	}
	return out
}

// TxnFromPB converts a logged transaction back (an unknown op keeps type 0,
// which ValidateTxn refuses).
func TxnFromPB(p *fsmpb.Txn) flowmesh.Txn {
	var t flowmesh.Txn
	for _, c := range p.GetCompares() {
		t.Compares = append(t.Compares, flowmesh.TxnCompare{Target: flowmesh.CompareTarget(c.Target), Op: flowmesh.CompareOp(c.Op),
			Path: c.Path, Key: c.Key, Partition: int(c.Partition), Number: c.Number, Value: c.Value, Flag: c.Flag,
			Receipt: flowmesh.Receipt{JobID: c.GetReceipt().GetJobId(), Attempt: int(c.GetReceipt().GetAttempt())}})
	}
	t.Then = txnOpsFromPB(p.GetThen())
	t.Else = txnOpsFromPB(p.GetElseOps())
	return t
}

func txnOpsFromPB(ops []*fsmpb.TxnOp) []flowmesh.TxnOp {
	var out []flowmesh.TxnOp
	for _, p := range ops {
		var op flowmesh.TxnOp
		switch o := p.GetOp().(type) {
		case *fsmpb.TxnOp_Put:
			op = flowmesh.TxnOp{Type: flowmesh.TxnPut, Path: o.Put.Path, Key: o.Put.Key, Value: o.Put.Value, TTL: time.Duration(o.Put.Ttl)}
			if o.Put.HasIfRevision {
				op.Type = 0 // conditions are compares in a transaction
			}
		case *fsmpb.TxnOp_Delete:
			op = flowmesh.TxnOp{Type: flowmesh.TxnDelete, Path: o.Delete.Path, Key: o.Delete.Key}
			if o.Delete.HasIfRevision {
				op.Type = 0
			}
		case *fsmpb.TxnOp_Append:
			op = flowmesh.TxnOp{Type: flowmesh.TxnAppend, Path: o.Append.Path}
			for _, e := range o.Append.Events {
				ev := flowmesh.StreamEvent{Payload: e.Payload, Key: e.Key, Partition: int(e.Partition)}
				if len(e.Headers) > 0 {
					ev.Headers = make(map[string]string, len(e.Headers))
					for _, h := range e.Headers {
						ev.Headers[h.Key] = h.Value
					}
				}
				op.Events = append(op.Events, ev)
			}
		case *fsmpb.TxnOp_Enqueue:
			op = flowmesh.TxnOp{Type: flowmesh.TxnEnqueue, Path: o.Enqueue.Path, Payload: o.Enqueue.Payload,
				Enqueue: flowmesh.QueueEnqueueOptions{Delay: time.Duration(o.Enqueue.Delay), DedupID: o.Enqueue.DedupId}}
		case *fsmpb.TxnOp_Ack:
			op = flowmesh.TxnOp{Type: flowmesh.TxnAck, Path: o.Ack.Path, Receipt: flowmesh.Receipt{JobID: o.Ack.JobId, Attempt: int(o.Ack.Attempt)}}
		case *fsmpb.TxnOp_Nack:
			op = flowmesh.TxnOp{Type: flowmesh.TxnNack, Path: o.Nack.Path, Receipt: flowmesh.Receipt{JobID: o.Nack.JobId, Attempt: int(o.Nack.Attempt)},
				Delay: time.Duration(o.Nack.Delay)}
		case *fsmpb.TxnOp_Get:
			op = flowmesh.TxnOp{Type: flowmesh.TxnGet, Path: o.Get.Path, Key: o.Get.Key}
		case *fsmpb.TxnOp_Range:
			op = flowmesh.TxnOp{Type: flowmesh.TxnRange, Path: o.Range.Path, Prefix: o.Range.Prefix, After: o.Range.After, Limit: int(o.Range.Limit)}
		}
		out = append(out, op)
	}
	return out
}

func (f *FSM) applyTxn(ac *applyCtx, c *fsmpb.Txn) (*Result, error) {
	txn := TxnFromPB(c)
	tenant, err := flowmesh.ValidateTxn(txn)
	if err != nil {
		return nil, err
	}
	succeeded := true
	for i, cmp := range txn.Compares {
		held, err := f.evalCompare(ac, cmp)
		if err != nil {
			return nil, &flowmesh.TxnOpError{Branch: "compares", Index: i, Op: cmp.Target.String(), Err: err}
		}
		succeeded = succeeded && held
	}
	branch, ops := "then", txn.Then
	if !succeeded {
		branch, ops = "else", txn.Else
	}
	if err := f.checkTxnOps(ac, tenant, branch, ops); err != nil {
		return nil, err
	}
	res := &flowmesh.TxnResult{Succeeded: succeeded, Results: make([]flowmesh.TxnOpResult, len(ops))}
	budget := int64(flowmesh.MaxTxnReadBytes)
	for i, op := range ops {
		if f.bugs.halfTxn && i == len(ops)-1 && i > 0 && succeeded && op.Type != flowmesh.TxnGet && op.Type != flowmesh.TxnRange {
			break
		}
		r, err := f.applyTxnOp(ac, i, op, &budget)
		if err != nil {
			if _, ok := err.(fatalError); ok {
				return nil, err
			}
			// The checks missed a case: every replica fails alike, and
			// the ops before this one stay applied. Logged as the bug it is.
			f.log.Error("fsm: transaction op failed after its checks passed", "index", ac.index, "op", branch+"["+strconv.Itoa(i)+"]", "err", err)
			return nil, &flowmesh.TxnOpError{Branch: branch, Index: i, Op: op.Type.String(), Err: err}
		}
		r.Type = op.Type
		res.Results[i] = r
	}
	res.Revision = f.kvRev
	return &Result{Txn: res}, nil
}

// evalCompare reports whether a compare holds. It changes nothing (an
// expired key counts as absent, as a read sees it).
func (f *FSM) evalCompare(ac *applyCtx, c flowmesh.TxnCompare) (bool, error) {
	switch c.Target {
	case flowmesh.CompareStreamNext:
		r, err := f.lookup(c.Path, flowmesh.KindStream)
		if err != nil {
			return false, err
		}
		if c.Partition >= len(r.stream.parts) {
			return false, flowmesh.Invalid("partition", "%d is outside 0..%d", c.Partition, len(r.stream.parts)-1)
		}
		return compareNumber(f.nextOffset(r.stream.parts[c.Partition].log), c.Op, c.Number), nil
	case flowmesh.CompareJobHeld:
		r, err := f.lookup(c.Path, flowmesh.KindQueue)
		if err != nil {
			return false, err
		}
		j := r.queue.jobs[c.Receipt.JobID]
		held := j != nil && j.state == jobInFlight && int(j.attempt) == c.Receipt.Attempt && j.visibleUntil > ac.stamp
		return compareFlag(held, c.Op, c.Flag), nil
	}
	r, err := f.lookup(c.Path, flowmesh.KindKV)
	if err != nil {
		return false, err
	}
	it := liveItem(r.kv, c.Key, ac.stamp)
	switch c.Target {
	case flowmesh.CompareKVRevision, flowmesh.CompareKVCreateRevision:
		if c.Target == flowmesh.CompareKVCreateRevision && f.bugs.noFence { // test-only deliberate bug
			return true, nil
		}
		var n uint64
		if it != nil {
			n = it.rev
			if c.Target == flowmesh.CompareKVCreateRevision {
				n = it.createRev
			}
		}
		return compareNumber(n, c.Op, c.Number), nil
	case flowmesh.CompareKVValue:
		if it == nil {
			return false, nil
		}
		return compareOrder(bytes.Compare(it.value, c.Value), c.Op), nil
	case flowmesh.CompareKVExists:
		return compareFlag(it != nil, c.Op, c.Flag), nil
	}
	return false, flowmesh.Invalid("target", "unknown target %d", c.Target)
}

func compareNumber(actual uint64, op flowmesh.CompareOp, want uint64) bool {
	switch {
	case actual < want:
		return compareOrder(-1, op)
	case actual > want:
		return compareOrder(1, op)
	}
	return compareOrder(0, op)
}

// compareOrder applies op to the sign of actual-versus-wanted.
func compareOrder(sign int, op flowmesh.CompareOp) bool {
	switch op {
	case flowmesh.CompareEqual:
		return sign == 0
	case flowmesh.CompareNotEqual:
		return sign != 0
	case flowmesh.CompareLess:
		return sign < 0
	case flowmesh.CompareGreater:
		return sign > 0
	}
	return false
}

func compareFlag(actual bool, op flowmesh.CompareOp, want bool) bool {
	if op == flowmesh.CompareNotEqual {
		return actual != want
	}
	return actual == want
}

// liveItem is a key's item unless absent or expired by stamp; it changes nothing.
func liveItem(s *kvState, key string, stamp int64) *kvItem {
	it, ok := s.tree.Get(&kvItem{key: key})
	if !ok || it.expired(stamp) {
		return nil
	}
	return it
}

// txnKey names a key or job of a resource in checkTxnOps' overlay.
func txnKey(path, key string) string { return path + "\x00" + key }

// checkTxnOps decides whether every op of the branch will apply, without
// changing anything: each op is checked against the state as the ops
// before it leave it, and the branch's new use against the tenant's quota.
func (f *FSM) checkTxnOps(ac *applyCtx, tenant, branch string, ops []flowmesh.TxnOp) error {
	type kvSlot struct {
		exists bool
		key    string
		value  int // bytes of the value
	}
	keys := map[string]kvSlot{} // keys the branch put or deleted
	used := map[string]bool{}   // receipts the branch acked or nacked
	dedups := map[string]bool{} // enqueue dedup keys the branch uses
	var need usage              // the positive parts of every op's need
	add := func(u usage) {
		need.StoredBytes += max(u.StoredBytes, 0)
		need.KVKeys += max(u.KVKeys, 0)
		need.QueueJobs += max(u.QueueJobs, 0)
		need.MemoryBytes += max(u.MemoryBytes, 0)
	}
	slot := func(s *kvState, path, key string) kvSlot {
		if sl, ok := keys[txnKey(path, key)]; ok {
			return sl
		}
		if it := liveItem(s, key, ac.stamp); it != nil {
			return kvSlot{exists: true, key: key, value: len(it.value)}
		}
		return kvSlot{}
	}
	for i, op := range ops {
		fail := func(err error) error {
			return &flowmesh.TxnOpError{Branch: branch, Index: i, Op: op.Type.String(), Err: err}
		}
		kind := flowmesh.KindKV
		switch op.Type {
		case flowmesh.TxnAppend:
			kind = flowmesh.KindStream
		case flowmesh.TxnEnqueue, flowmesh.TxnAck, flowmesh.TxnNack:
			kind = flowmesh.KindQueue
		}
		r, err := f.lookup(op.Path, kind)
		if err != nil {
			return fail(err)
		}
		switch op.Type {
		case flowmesh.TxnPut:
			cur := slot(r.kv, op.Path, op.Key)
			u := usage{KVKeys: 1, StoredBytes: int64(len(op.Key) + len(op.Value)), MemoryBytes: kvMemory(op.Key, op.Value)}
			if cur.exists {
				old := int64(len(op.Key) + cur.value)
				u.KVKeys, u.StoredBytes, u.MemoryBytes = 0, u.StoredBytes-old, u.MemoryBytes-old-flowmesh.MemoryPerKVKey
			}
			add(u)
			keys[txnKey(op.Path, op.Key)] = kvSlot{exists: true, key: op.Key, value: len(op.Value)}
		case flowmesh.TxnDelete:
			if !slot(r.kv, op.Path, op.Key).exists {
				return fail(fmt.Errorf("%w: key %q in %s", flowmesh.ErrNotFound, op.Key, op.Path))
			}
			keys[txnKey(op.Path, op.Key)] = kvSlot{}
		case flowmesh.TxnAppend:
			evs := EventsToPB(op.Events)
			if err := checkPartitions(evs, len(r.stream.parts)); err != nil {
				return fail(err)
			}
			for _, e := range evs {
				need.StoredBytes += eventBytes(e)
			}
		case flowmesh.TxnEnqueue:
			c := &fsmpb.Enqueue{Path: op.Path, Payload: op.Payload, Delay: int64(op.Enqueue.Delay), DedupId: op.Enqueue.DedupID}
			if err := checkEnqueue(c, int(r.meta.MaxPayload)); err != nil {
				return fail(err)
			}
			if c.DedupId != "" {
				k := enqueueDedupKey(c.Path, r.meta.Revision, c.DedupId)
				if _, ok := f.dedup.get(k); ok || dedups[k] {
					continue
				}
				dedups[k] = true
			}
			add(usage{QueueJobs: 1, StoredBytes: int64(len(c.Payload)), MemoryBytes: jobMemory(c.Payload)})
		case flowmesh.TxnAck, flowmesh.TxnNack:
			k := txnKey(op.Path, op.Receipt.JobID)
			if used[k] {
				return fail(fmt.Errorf("%w: job %s was acked or nacked by an earlier op of the transaction", flowmesh.ErrStaleReceipt, op.Receipt.JobID))
			}
			if _, err := r.queue.current(op.Path, op.Receipt.JobID, int32(op.Receipt.Attempt)); err != nil {
				return fail(err)
			}
			used[k] = true
		}
	}
	if err := f.checkQuota(tenant, need); err != nil {
		return err
	}
	return nil
}

// applyTxnOp applies one op of the branch that runs; budget is what is left
// of the transaction's read bytes.
func (f *FSM) applyTxnOp(ac *applyCtx, i int, op flowmesh.TxnOp, budget *int64) (flowmesh.TxnOpResult, error) {
	var out flowmesh.TxnOpResult
	switch op.Type {
	case flowmesh.TxnPut:
		r, err := f.applyKVPut(ac, &fsmpb.KVPut{Path: op.Path, Key: op.Key, Value: op.Value, Ttl: int64(op.TTL)})
		if err != nil {
			return out, err
		}
		out.Revision = r.Revision
	case flowmesh.TxnDelete:
		r, err := f.applyKVDelete(ac, &fsmpb.KVDelete{Path: op.Path, Key: op.Key})
		if err != nil {
			return out, err
		}
		out.Revision = r.Revision
	case flowmesh.TxnAppend:
		r, err := f.applyWriteEvents(ac, &fsmpb.WriteEvents{Path: op.Path, Events: EventsToPB(op.Events)})
		if err != nil {
			return out, err
		}
		out.Positions = r.Positions
	case flowmesh.TxnEnqueue:
		id, seq, err := f.txnEnqueue(ac, i, op)
		if err != nil {
			return out, err
		}
		out.JobID, out.Seq = id, seq
	case flowmesh.TxnAck:
		if _, err := f.applyAck(ac, &fsmpb.Ack{Path: op.Path, JobId: op.Receipt.JobID, Attempt: int32(op.Receipt.Attempt)}); err != nil {
			return out, err
		}
	case flowmesh.TxnNack:
		if _, err := f.applyNack(ac, &fsmpb.Nack{Path: op.Path, JobId: op.Receipt.JobID, Attempt: int32(op.Receipt.Attempt), Delay: int64(op.Delay)}); err != nil {
			return out, err
		}
	case flowmesh.TxnGet:
		r, err := f.lookup(op.Path, flowmesh.KindKV)
		if err != nil {
			return out, err
		}
		it, err := f.live(ac, r.kv, op.Key)
		if err != nil {
			return out, err
		}
		if it != nil {
			out.Found = true
			if n := kvBytes(it.key, it.value); n <= *budget {
				*budget -= n
				out.Entries = []flowmesh.KVEntry{it.public()}
			} else {
				out.Truncated = true
			}
		}
	case flowmesh.TxnRange:
		r, err := f.lookup(op.Path, flowmesh.KindKV)
		if err != nil {
			return out, err
		}
		limit := op.Limit
		if limit == 0 {
			limit = flowmesh.MaxTxnRangeEntries
		}
		pivot := op.Prefix
		if op.After >= op.Prefix {
			pivot = op.After + "\x00"
		}
		r.kv.tree.AscendGreaterOrEqual(&kvItem{key: pivot}, func(it *kvItem) bool {
			if !strings.HasPrefix(it.key, op.Prefix) || len(out.Entries) >= limit {
				return false
			}
			if it.expired(ac.stamp) {
				return true
			}
			n := kvBytes(it.key, it.value)
			if n > *budget {
				out.Truncated = true
				return false
			}
			*budget -= n
			out.Entries = append(out.Entries, it.public())
			return true
		})
	default:
		return out, flowmesh.Invalid("type", "unknown op type %d", op.Type)
	}
	return out, nil
}

// txnEnqueue is applyEnqueue for op i of a transaction: its job's ID is
// "index.pos.i", apart from any other command's.
func (f *FSM) txnEnqueue(ac *applyCtx, i int, op flowmesh.TxnOp) (string, uint64, error) {
	r, err := f.lookup(op.Path, flowmesh.KindQueue)
	if err != nil {
		return "", 0, err
	}
	c := &fsmpb.Enqueue{Path: op.Path, Payload: op.Payload, Delay: int64(op.Enqueue.Delay), DedupId: op.Enqueue.DedupID}
	if err := checkEnqueue(c, int(r.meta.MaxPayload)); err != nil {
		return "", 0, err
	}
	dedupKey := ""
	if c.DedupId != "" {
		dedupKey = enqueueDedupKey(c.Path, r.meta.Revision, c.DedupId)
		if res, ok := f.dedup.get(dedupKey); ok {
			return res.JobID, res.Seq, nil
		}
	}
	if err := f.checkQuota(r.meta.Tenant, usage{QueueJobs: 1, StoredBytes: int64(len(c.Payload)), MemoryBytes: jobMemory(c.Payload)}); err != nil {
		return "", 0, err
	}
	j := &qjob{id: strconv.FormatUint(ac.index, 10) + "." + strconv.Itoa(ac.pos) + "." + strconv.Itoa(i),
		payload: c.Payload, enqueuedAt: ac.stamp, readyAt: ac.stamp + c.Delay}
	if err := r.queue.add(ac, j); err != nil {
		return "", 0, err
	}
	if dedupKey != "" {
		f.dedup.put(dedupKey, ac.stamp, &Result{JobID: j.id, Seq: j.seq})
	}
	return j.id, j.seq, nil
}

// txnResultToPB and txnResultFromPB carry a transaction's result through
// the dedup window of a checkpoint.
func txnResultToPB(r *flowmesh.TxnResult) *fsmpb.TxnResult {
	pb := &fsmpb.TxnResult{Succeeded: r.Succeeded, Revision: r.Revision}
	for _, o := range r.Results {
		po := &fsmpb.TxnOpResult{Type: int32(o.Type), Revision: o.Revision, JobId: o.JobID, Seq: o.Seq, Found: o.Found, Truncated: o.Truncated}
		for _, p := range o.Positions {
			po.Positions = append(po.Positions, &fsmpb.Position{Partition: int32(p.Partition), Offset: p.Offset})
		}
		for _, e := range o.Entries {
			pe := &fsmpb.TxnEntry{Key: e.Key, Value: e.Value, Revision: e.Revision, CreateRevision: e.CreateRevision}
			if !e.ExpiresAt.IsZero() {
				pe.ExpiresAt = e.ExpiresAt.UnixNano()
			}
			po.Entries = append(po.Entries, pe)
		}
		pb.Results = append(pb.Results, po)
	}
	return pb
}

func txnResultFromPB(pb *fsmpb.TxnResult) *flowmesh.TxnResult {
	r := &flowmesh.TxnResult{Succeeded: pb.Succeeded, Revision: pb.Revision, Results: make([]flowmesh.TxnOpResult, len(pb.Results))}
	for i, po := range pb.Results {
		o := flowmesh.TxnOpResult{Type: flowmesh.TxnOpType(po.Type), Revision: po.Revision, JobID: po.JobId, Seq: po.Seq, Found: po.Found, Truncated: po.Truncated}
		for _, p := range po.Positions {
			o.Positions = append(o.Positions, flowmesh.Position{Partition: int(p.Partition), Offset: p.Offset})
		}
		for _, e := range po.Entries {
			ke := flowmesh.KVEntry{Key: e.Key, Value: e.Value, Revision: e.Revision, CreateRevision: e.CreateRevision}
			if e.ExpiresAt != 0 {
				ke.ExpiresAt = time.Unix(0, e.ExpiresAt).UTC()
			}
			o.Entries = append(o.Entries, ke)
		}
		r.Results[i] = o
	}
	return r
}

// txnResultSize is a transaction result's share of dedupSize.
func txnResultSize(r *flowmesh.TxnResult) int64 {
	n := int64(32)
	for _, o := range r.Results {
		n += int64(48 + len(o.JobID) + 16*len(o.Positions))
		for _, e := range o.Entries {
			n += int64(48 + len(e.Key) + len(e.Value))
		}
	}
	return n
}
