package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/flowmesh/flowmesh/internal/certs"
)

// applyTLSDir points every TLS file flag (and --gossip-key-file, unless a
// gossip key is given some other way) not set explicitly at the files of
// --tls-dir.
func (c *config) applyTLSDir(explicit map[string]bool) {
	if c.TLSDir == "" {
		return
	}
	for _, f := range []struct {
		flag string
		p    *string
		file string
	}{
		{"cert-file", &c.CertFile, certs.NodeCertFile},
		{"key-file", &c.KeyFile, certs.NodeKeyFile},
		{"trusted-ca-file", &c.TrustedCAFile, certs.CAFile},
		{"peer-cert-file", &c.PeerCertFile, certs.PeerCertFile},
		{"peer-key-file", &c.PeerKeyFile, certs.PeerKeyFile},
		{"peer-trusted-ca-file", &c.PeerTrustedCAFile, certs.PeerCAFile},
		{"gossip-key-file", &c.GossipKeyFile, certs.GossipKeyFile},
	} {
		if explicit[f.flag] || (f.flag == "gossip-key-file" && explicit["gossip-key"]) {
			continue
		}
		*f.p = filepath.Join(c.TLSDir, f.file)
	}
	if !explicit["auth-file"] {
		if _, err := os.Stat(filepath.Join(c.TLSDir, authFileName)); err == nil {
			c.AuthFile = filepath.Join(c.TLSDir, authFileName)
		}
	}
}

// validateTLS reports every problem with the TLS flags: pairs given by
// halves, files that cannot be read, peer TLS without a gossip key.
func (c *config) validateTLS() []error {
	var errs []error
	if c.TLSDir != "" {
		if st, err := os.Stat(c.TLSDir); err != nil {
			errs = append(errs, fmt.Errorf("--tls-dir: %v", err))
		} else if !st.IsDir() {
			errs = append(errs, fmt.Errorf("--tls-dir %s: not a directory", c.TLSDir))
		}
	}
	group := func(names []string, vals ...string) {
		var set, unset []string
		for i, v := range vals {
			if v != "" {
				set = append(set, "--"+names[i])
			} else {
				unset = append(unset, "--"+names[i])
			}
		}
		if len(set) > 0 && len(unset) > 0 {
			errs = append(errs, fmt.Errorf("%v given without %v", set, unset))
		}
	}
	group([]string{"cert-file", "key-file", "trusted-ca-file"}, c.CertFile, c.KeyFile, c.TrustedCAFile)
	group([]string{"peer-cert-file", "peer-key-file", "peer-trusted-ca-file"}, c.PeerCertFile, c.PeerKeyFile, c.PeerTrustedCAFile)
	for _, f := range []struct{ flag, path string }{
		{"--cert-file", c.CertFile}, {"--key-file", c.KeyFile}, {"--trusted-ca-file", c.TrustedCAFile},
		{"--peer-cert-file", c.PeerCertFile}, {"--peer-key-file", c.PeerKeyFile}, {"--peer-trusted-ca-file", c.PeerTrustedCAFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", f.flag, err))
		}
	}
	if c.PeerCertFile != "" && c.GossipKey == "" && c.GossipKeyFile == "" {
		errs = append(errs, errors.New("peer TLS needs a gossip key (--gossip-key-file or FLOWMESH_GOSSIP_KEY): gossip is not under TLS, and without the key any host could join it"))
	}
	return errs
}

// nodeTLS is the node's TLS material, reloaded together on SIGHUP.
type nodeTLS struct {
	server *certs.Source // --cert-file, --key-file, --trusted-ca-file; nil: plaintext gRPC and HTTP
	peer   *certs.Source // --peer-*; nil: plain raft
}

// loadTLS reads the files cfg names; both fields are nil without TLS flags.
func loadTLS(cfg *config) (*nodeTLS, error) {
	t := &nodeTLS{}
	var err error
	if cfg.CertFile != "" {
		if t.server, err = certs.Load(certs.Files{Cert: cfg.CertFile, Key: cfg.KeyFile, CA: cfg.TrustedCAFile}); err != nil {
			return nil, err
		}
	}
	if cfg.PeerCertFile != "" {
		if t.peer, err = certs.Load(certs.Files{Cert: cfg.PeerCertFile, Key: cfg.PeerKeyFile, CA: cfg.PeerTrustedCAFile}); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// enabled reports whether any TLS is configured.
func (t *nodeTLS) enabled() bool { return t.server != nil || t.peer != nil }

// peerCAs is the current peer CA pool (nil without peer TLS): a client
// certificate that chains to it is a node's (rpc.Config.PeerCAs).
func (t *nodeTLS) peerCAs() *x509.CertPool {
	if t.peer == nil {
		return nil
	}
	return t.peer.Pool()
}

// reload re-reads every file; a source that fails keeps its old material.
func (t *nodeTLS) reload() error {
	var errs []error
	for _, s := range []*certs.Source{t.server, t.peer} {
		if s != nil {
			errs = append(errs, s.Reload())
		}
	}
	return errors.Join(errs...)
}

// serverConfig is the gRPC and HTTP admin servers' config, nil without
// --cert-file. Client certificates are optional (tokens may authenticate
// instead) and verified when given, against the trusted CA and the peer
// CA: a follower forwarding a call presents its peer certificate.
func (t *nodeTLS) serverConfig() *tls.Config {
	if t.server == nil {
		return nil
	}
	cas := []*certs.Source{t.server}
	if t.peer != nil {
		cas = append(cas, t.peer)
	}
	return certs.ServerConfig(t.server, tls.VerifyClientCertIfGiven, cas...)
}

// grpcServerOptions are the gRPC server's credentials.
func (t *nodeTLS) grpcServerOptions() []grpc.ServerOption {
	if c := t.serverConfig(); c != nil {
		return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(c))}
	}
	return nil
}

// forwardDialOptions are the credentials of a follower's connections to
// the leader's gRPC port: the peer certificate, and the leader's server
// certificate verified against the trusted CA with its name.
func (t *nodeTLS) forwardDialOptions() []grpc.DialOption {
	if t.server == nil {
		return nil
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(certs.TransportCredentials(t.peer, t.server))}
}

// peerConfigs are raft's server and client configs (nil, nil without peer
// TLS): both sides verify the chain to the peer CA only (see certs).
func (t *nodeTLS) peerConfigs() (server, client *tls.Config) {
	if t.peer == nil {
		return nil, nil
	}
	return certs.ServerConfig(t.peer, tls.RequireAndVerifyClientCert, t.peer), certs.ClientConfig(t.peer, t.peer, false)
}
