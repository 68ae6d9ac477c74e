package runner

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/flowmesh/flowmesh/client"
)

// secure is what a run's nodes and clients share when the cluster runs as
// users are told to run it: `flowmesh-node certs init` (TLS on gRPC and
// HTTP, mTLS and a gossip key between nodes) and a bearer token of
// `flowmesh-node token add` (cluster-admin, since the harness creates
// resources, asks for state hashes and makes nodes leave).
type secure struct {
	dir   string // certs init output
	flags []string
	tls   *tls.Config
	token string
	http  *http.Client
}

// setupSecure makes certificates for hosts, a gossip key and a token in
// dir with the node binary bin.
func setupSecure(bin, dir string, hosts []string) (*secure, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	certDir, tokens := filepath.Join(dir, "tls"), filepath.Join(dir, "tokens")
	if out, err := exec.CommandContext(ctx, bin, "certs", "init", certDir, "--hosts", strings.Join(hosts, ",")).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("runner: certs init: %v\n%s", err, out)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "token", "add", "--file", tokens, "--subject", "jepsen", "--grant", "cluster-admin")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("runner: token add: %v\n%s", err, stderr.String())
	}
	token := strings.TrimSpace(stdout.String())
	if token == "" || strings.ContainsAny(token, " \n") {
		return nil, fmt.Errorf("runner: token add printed %d bytes, not one token", stdout.Len())
	}
	pem, err := os.ReadFile(filepath.Join(certDir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("runner: %s holds no certificate", filepath.Join(certDir, "ca.crt"))
	}
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &secure{
		dir:   certDir,
		flags: []string{"--tls-dir", absPath(certDir), "--auth-file", absPath(tokens)},
		tls:   tc,
		token: token,
		http:  &http.Client{Transport: &http.Transport{TLSClientConfig: tc}},
	}, nil
}

// clientConfig adds the credentials of s (if any) to cfg.
func (s *secure) clientConfig(cfg client.Config) client.Config {
	if s != nil {
		cfg.TLS, cfg.Token = s.tls.Clone(), s.token
	}
	return cfg
}

// url is the admin URL of path on addr.
func (s *secure) url(addr, path string) string {
	if s == nil {
		return "http://" + addr + path
	}
	return "https://" + addr + path
}

func (s *secure) httpClient() *http.Client {
	if s == nil {
		return http.DefaultClient
	}
	return s.http
}
