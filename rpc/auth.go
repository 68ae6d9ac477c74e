package rpc

import (
	"context"
	"crypto/x509"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/internal/auth"
)

// Authenticator turns credentials into identities; *auth.Store is one.
type Authenticator interface {
	// Authenticate returns the identity of a bearer token.
	Authenticate(token string) (auth.Identity, bool)
	// Cert returns the identity of a verified client certificate with
	// subject CN cn, or of a subject a cluster node asserts.
	Cert(cn string) (auth.Identity, bool)
}

const (
	// MetadataAuthorization carries "Bearer <token>".
	MetadataAuthorization = "authorization"
	// MetadataSubject is the subject a follower asserts when it forwards
	// the call of a client it authenticated by certificate. A node trusts
	// it only on a connection whose client certificate chains to the peer
	// CA (Config.PeerCAs).
	MetadataSubject = "flowmesh-subject"
)

// caller is the identity a call was authorized as.
type caller struct {
	id     auth.Identity
	byCert bool // by a client certificate (its own or one a node vouched for)
	node   bool // a cluster node itself
}

type callerKey struct{}

func callerFrom(ctx context.Context) (caller, bool) {
	c, ok := ctx.Value(callerKey{}).(caller)
	return c, ok
}

// openMethod reports whether a method needs no credential: the tools of
// the gRPC ecosystem (grpc-health-probe, grpcurl's reflection).
func openMethod(full string) bool {
	return strings.HasPrefix(full, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(full, "/grpc.reflection.v1.ServerReflection/") ||
		strings.HasPrefix(full, "/grpc.reflection.v1alpha.ServerReflection/")
}

// authenticate finds who is calling. A token wins over a certificate; an
// asserted subject needs a peer certificate; a peer certificate without
// one is a node.
func (s *Server) authenticate(ctx context.Context) (caller, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(MetadataAuthorization); len(v) > 0 {
		tok, ok := bearer(v[0])
		if !ok {
			return caller{}, status.Error(codes.Unauthenticated, "flowmesh: authorization metadata is not \"Bearer <token>\"")
		}
		id, ok := s.cfg.Auth.Authenticate(tok)
		if !ok {
			return caller{}, status.Error(codes.Unauthenticated, "flowmesh: unknown token")
		}
		return caller{id: id}, nil
	}
	leaf, peerCert := s.clientCert(ctx)
	if v := md.Get(MetadataSubject); len(v) > 0 {
		if !peerCert {
			return caller{}, status.Error(codes.Unauthenticated, "flowmesh: "+MetadataSubject+" is accepted only from a cluster node (a peer certificate)")
		}
		id, ok := s.cfg.Auth.Cert(v[0])
		if !ok {
			return caller{}, status.Errorf(codes.Unauthenticated, "flowmesh: subject %q asserted by a node has no cert entry", v[0])
		}
		return caller{id: id, byCert: true}, nil
	}
	if peerCert {
		return caller{id: auth.Node(), node: true}, nil
	}
	if leaf != nil {
		id, ok := s.cfg.Auth.Cert(leaf.Subject.CommonName)
		if !ok {
			return caller{}, status.Errorf(codes.Unauthenticated, "flowmesh: client certificate CN %q has no cert entry in the token file", leaf.Subject.CommonName)
		}
		return caller{id: id, byCert: true}, nil
	}
	return caller{}, status.Error(codes.Unauthenticated, "flowmesh: no credential: send \"authorization: Bearer <token>\" or a client certificate")
}

func bearer(v string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// clientCert returns the verified client certificate of the call's
// connection, if any, and whether it chains to the peer CA.
func (s *Server) clientCert(ctx context.Context) (*x509.Certificate, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, false
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.PeerCertificates) == 0 {
		return nil, false
	}
	leaf := ti.State.PeerCertificates[0]
	if s.cfg.PeerCAs == nil {
		return leaf, false
	}
	pool := s.cfg.PeerCAs()
	if pool == nil {
		return leaf, false
	}
	inter := x509.NewCertPool()
	for _, c := range ti.State.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return leaf, err == nil
}

// authorize checks the call of method with req (nil before a stream's
// first message) and returns ctx carrying the caller; on error, ctx as it
// was.
func (s *Server) authorize(ctx context.Context, method string, req any) (context.Context, error) {
	a, ok := methods[method]
	if !ok {
		if openMethod(method) {
			return ctx, nil
		}
		return ctx, status.Errorf(codes.PermissionDenied, "flowmesh: %s is not in the authorization table", method)
	}
	c, err := s.authenticate(ctx)
	if err != nil {
		return ctx, err
	}
	if err := check(c, method, a, req); err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, callerKey{}, c), nil
}

// check decides whether c may call method (needing a) with req.
func check(c caller, method string, a access, req any) error {
	switch {
	case a.anyone:
		return nil
	case a.cluster:
		if c.id.IsClusterAdmin() {
			return nil
		}
		return status.Errorf(codes.PermissionDenied, "flowmesh: subject %q may not call %s: it needs %s", c.id.Subject, method, auth.ClusterAdmin)
	}
	if a.scopes != nil {
		return checkScopes(c, method, a, req)
	}
	tenant, ns, err := a.scope(req)
	if err != nil {
		return err
	}
	allowed := c.id.Allows(a.perm, tenant, ns)
	if a.list && ns == "" {
		allowed = c.id.AllowsSome(a.perm, tenant)
	}
	if allowed {
		return nil
	}
	if tenant == flowmesh.DefaultQuotaTenant {
		return status.Errorf(codes.PermissionDenied, "flowmesh: subject %q may not call %s on the cluster default: it needs %s", c.id.Subject, method, auth.ClusterAdmin)
	}
	where := tenant
	if ns != "" {
		where += "/" + ns
	}
	return status.Errorf(codes.PermissionDenied, "flowmesh: subject %q may not call %s on %s: it needs %s", c.id.Subject, method, where, a.perm)
}

// authStream authorizes a stream's call when its request arrives: before
// the handler for streams without a scope, on the first RecvMsg for the
// server streams whose request names a path.
type authStream struct {
	grpc.ServerStream
	s      *Server
	method string
	done   bool
}

func (a *authStream) RecvMsg(m any) error {
	if err := a.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if a.done {
		return nil
	}
	a.done = true
	_, err := a.s.authorize(a.ServerStream.Context(), a.method, m)
	return err
}

// withSubject sets the outgoing metadata of a forwarded call to carry the
// caller's identity: the token travels as it came (copied with the rest);
// a caller known by certificate is asserted by subject; a node's own call
// asserts nothing. A subject the caller sent itself never travels on.
func withSubject(ctx context.Context, out metadata.MD) {
	out.Delete(MetadataSubject)
	if c, ok := callerFrom(ctx); ok && c.byCert && !c.node {
		out.Set(MetadataSubject, c.id.Subject)
	}
}
