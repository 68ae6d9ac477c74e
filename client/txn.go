package client

import (
	"context"

	"google.golang.org/grpc"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/pbconv"
)

var _ flowmesh.TxnManager = (*Client)(nil)

// Txn runs a transaction (see flowmesh.Txn): one call, applied whole or not
// at all. It is checked against the limits before it is sent, and carries a
// request ID (WithRequestID's, or a fresh one) with which it is retried, so
// a retry after a failover never applies it twice.
func (c *Client) Txn(ctx context.Context, txn flowmesh.Txn, opts ...flowmesh.CallOption) (*flowmesh.TxnResult, error) {
	if _, err := flowmesh.ValidateTxn(txn); err != nil {
		return nil, err
	}
	wo, err := checkedWriteOptions(opts)
	if err != nil {
		return nil, err
	}
	req := pbconv.TxnRequest(txn)
	req.Options = wo
	resp := new(pb.TxnResponse)
	err = c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) error {
		resp.Reset()
		return unary(ctx, cc, pb.TxnService_Txn_FullMethodName, req, resp)
	})
	if err != nil {
		return nil, err
	}
	ops := txn.Then
	if !resp.GetSucceeded() {
		ops = txn.Else
	}
	types := make([]flowmesh.TxnOpType, len(ops))
	for i, op := range ops {
		types[i] = op.Type
	}
	return pbconv.FromTxnResponse(resp, types), nil
}
