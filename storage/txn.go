package storage

import (
	"context"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
)

// The node runs transactions (flowmesh.TxnManager): a transaction's
// compares and reads are mostly KV ones and its revision is the KV
// revision, but its ops may append to streams and enqueue or ack jobs of
// the same tenant. The founding API's KVManager() is the node too, so it
// type-asserts to flowmesh.TxnManager.
var _ flowmesh.TxnManager = (*Storage)(nil)

// Txn runs a transaction as one replicated command (see flowmesh.Txn).
func (s *Storage) Txn(ctx context.Context, txn flowmesh.Txn, opts ...flowmesh.CallOption) (*flowmesh.TxnResult, error) {
	if _, err := flowmesh.ValidateTxn(txn); err != nil {
		return nil, err
	}
	cmd := &fsmpb.Command{Op: &fsmpb.Command_Txn{Txn: fsm.TxnToPB(txn)}}
	res, err := s.propose(ctx, cmd, flowmesh.ApplyCallOptions(opts))
	if err != nil {
		return nil, err
	}
	if res.Txn == nil {
		return nil, flowmesh.Invalid("request_id", "was used by another kind of call within the dedup window")
	}
	return res.Txn, nil
}

// txnGrowth is growth for a transaction: it adds data when either branch
// puts, appends or enqueues; one that only deletes, acks, nacks and reads
// is accepted on a full disk like those calls alone.
func txnGrowth(t *fsmpb.Txn) bool {
	for _, ops := range [][]*fsmpb.TxnOp{t.GetThen(), t.GetElseOps()} {
		for _, op := range ops {
			switch op.GetOp().(type) {
			case *fsmpb.TxnOp_Delete, *fsmpb.TxnOp_Ack, *fsmpb.TxnOp_Nack, *fsmpb.TxnOp_Get, *fsmpb.TxnOp_Range:
			default:
				return true
			}
		}
	}
	return false
}
