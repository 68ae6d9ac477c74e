package rpc

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/internal/auth"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/pbconv"
)

// TxnService serves the Node's transactions (flowmesh.TxnManager).
type txnService struct {
	pb.UnimplementedTxnServiceServer
	s *Server
}

func (h *txnService) Txn(ctx context.Context, req *pb.TxnRequest) (*pb.TxnResponse, error) {
	txn := pbconv.FromTxnRequest(req)
	if _, err := flowmesh.ValidateTxn(txn); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	res, err := h.s.node.Txn(ctx, txn, opt)
	if err != nil {
		return nil, err
	}
	return pbconv.TxnResponse(res), nil
}

// txnScopes is a Txn's authorization: the namespaces of the one tenant its
// compares and ops name, and write on each, or read when every op of both
// branches is a get or range (compares are reads). A request naming two
// tenants is refused as InvalidArgument (the handler's check, run early).
func txnScopes(req any) (auth.Perm, string, []string, error) {
	r, ok := req.(*pb.TxnRequest)
	if !ok {
		return auth.PermRead, "", nil, flowmesh.Invalid("txn", "request is not a TxnRequest")
	}
	txn := pbconv.FromTxnRequest(r)
	tenant, err := flowmesh.ValidateTxn(txn)
	if err != nil {
		return auth.PermRead, "", nil, err
	}
	perm := auth.PermRead
	seen := map[string]bool{}
	var namespaces []string
	addNS := func(path string) {
		_, ns, _, _ := flowmesh.ParsePath(path)
		if !seen[ns] {
			seen[ns] = true
			namespaces = append(namespaces, ns)
		}
	}
	for _, c := range txn.Compares {
		addNS(c.Path)
	}
	for _, ops := range [][]flowmesh.TxnOp{txn.Then, txn.Else} {
		for _, op := range ops {
			addNS(op.Path)
			if op.Type != flowmesh.TxnGet && op.Type != flowmesh.TxnRange {
				perm = auth.PermWrite
			}
		}
	}
	return perm, tenant, namespaces, nil
}

// txnTenant is a Txn's tenant and first namespace, for the tenant rate limit.
func txnTenant(req any) (string, string, error) {
	_, tenant, namespaces, err := txnScopes(req)
	if err != nil || len(namespaces) == 0 {
		return "", "", err
	}
	return tenant, namespaces[0], nil
}

// checkScopes is check for a method whose request spans namespaces.
func checkScopes(c caller, method string, a access, req any) error {
	perm, tenant, namespaces, err := a.scopes(req)
	if err != nil {
		return err
	}
	for _, ns := range namespaces {
		if !c.id.Allows(perm, tenant, ns) {
			return status.Errorf(codes.PermissionDenied, "flowmesh: subject %q may not call %s on %s/%s: it needs %s", c.id.Subject, method, tenant, ns, perm)
		}
	}
	return nil
}

// withTxnDetail names the compare or op that failed a transaction in the
// error's detail.
func withTxnDetail(err error, d *pb.ErrorDetail) {
	var te *flowmesh.TxnOpError
	if d != nil && errors.As(err, &te) {
		d.TxnBranch, d.TxnIndex, d.TxnOp = te.Branch, int32(te.Index), te.Op
	}
}
