package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// MinVersion is the oldest TLS version spoken.
const MinVersion = tls.VersionTLS12

// alpn is what servers offer: gRPC needs h2 negotiated, the HTTP admin
// port speaks either; a client offering neither (raft) negotiates none.
var alpn = []string{"h2", "http/1.1"}

// ServerConfig returns a server config presenting cert's current
// certificate and, unless auth is tls.NoClientCert, verifying client
// certificates against the union of the current pools of clientCAs.
func ServerConfig(cert *Source, auth tls.ClientAuthType, clientCAs ...*Source) *tls.Config {
	return &tls.Config{
		MinVersion: MinVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := cert.Certificate()
			if c == nil {
				return nil, errors.New("certs: no server certificate")
			}
			cfg := &tls.Config{
				MinVersion:   MinVersion,
				Certificates: []tls.Certificate{*c},
				ClientAuth:   auth,
				NextProtos:   alpn,
			}
			if auth != tls.NoClientCert {
				cfg.ClientCAs = unionPool(clientCAs)
			}
			return cfg, nil
		},
	}
}

// unionPool is one pool of every CA of sources.
func unionPool(sources []*Source) *x509.CertPool {
	if len(sources) == 1 {
		if p := sources[0].Pool(); p != nil {
			return p
		}
	}
	p := x509.NewCertPool()
	for _, s := range sources {
		for _, c := range s.cur.Load().cas {
			p.AddCert(c)
		}
	}
	return p
}

// ClientConfig returns a client config presenting cert's current
// certificate (cert may be nil: none). With checkName the server is
// verified by Go's standard verification, name included, against roots's
// pool as it is now: use TransportCredentials for gRPC connections that
// must follow reloads. Without checkName the chain alone is verified,
// against the pool current at each handshake (peers; see doc.go).
func ClientConfig(cert, roots *Source, checkName bool) *tls.Config {
	cfg := &tls.Config{MinVersion: MinVersion}
	if checkName {
		cfg.RootCAs = roots.Pool()
	} else {
		// Verification is not skipped: VerifyConnection does it against the
		// pool current at each handshake.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyChain(cs, roots)
		}
	}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if c := cert.Certificate(); c != nil {
				return c, nil
			}
			return &tls.Certificate{}, nil // no certificate: the server decides
		}
	}
	return cfg
}

// verifyChain verifies the server's chain to roots's current pool.
func verifyChain(cs tls.ConnectionState, roots *Source) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("certs: server sent no certificate")
	}
	pool := roots.Pool()
	if pool == nil {
		return errors.New("certs: no CA to verify the server against")
	}
	opts := x509.VerifyOptions{
		Roots:         pool,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
		return fmt.Errorf("certs: server certificate: %w", err)
	}
	return nil
}
