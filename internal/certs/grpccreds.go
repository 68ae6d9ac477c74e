package certs

import (
	"context"
	"net"

	"google.golang.org/grpc/credentials"
)

// TransportCredentials are gRPC client credentials that build a fresh
// ClientConfig(cert, roots, true) for every connection, so a reload of
// roots reaches new connections while the server name gRPC dials is
// verified by Go's standard verification.
func TransportCredentials(cert, roots *Source) credentials.TransportCredentials {
	return &reloadingCreds{cert: cert, roots: roots}
}

type reloadingCreds struct {
	cert, roots *Source
	serverName  string
}

func (c *reloadingCreds) current() credentials.TransportCredentials {
	cfg := ClientConfig(c.cert, c.roots, true)
	cfg.ServerName = c.serverName
	return credentials.NewTLS(cfg)
}

func (c *reloadingCreds) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c.current().ClientHandshake(ctx, authority, conn)
}

func (c *reloadingCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c.current().ServerHandshake(conn)
}

func (c *reloadingCreds) Info() credentials.ProtocolInfo { return c.current().Info() }

func (c *reloadingCreds) Clone() credentials.TransportCredentials {
	cp := *c
	return &cp
}

// OverrideServerName is deprecated in gRPC but still part of the interface.
func (c *reloadingCreds) OverrideServerName(name string) error {
	c.serverName = name
	return nil
}
