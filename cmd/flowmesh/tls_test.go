package main

import (
	"bytes"
	"crypto/tls"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/flowmesh/flowmesh/internal/certs"
	"github.com/flowmesh/flowmesh/rpc"
)

// startTLSNode serves over TLS with a certs init set, requiring a client
// certificate, and returns the address and the directory.
func startTLSNode(t *testing.T) (addr, dir string) {
	t.Helper()
	dir = t.TempDir()
	if err := certs.Generate(dir, nil); err != nil {
		t.Fatal(err)
	}
	src, err := certs.Load(certs.Files{Cert: filepath.Join(dir, certs.NodeCertFile), Key: filepath.Join(dir, certs.NodeKeyFile), CA: filepath.Join(dir, certs.CAFile)})
	if err != nil {
		t.Fatal(err)
	}
	creds := grpc.Creds(credentials.NewTLS(certs.ServerConfig(src, tls.RequireAndVerifyClientCert, src)))
	return startNodeWith(t, func(c *rpc.Config) { c.ServerOptions = append(c.ServerOptions, creds) }), dir
}

func TestTLSFlags(t *testing.T) {
	addr, dir := startTLSNode(t)
	ca, cert, key := filepath.Join(dir, certs.CAFile), filepath.Join(dir, certs.ClientCertFile), filepath.Join(dir, certs.ClientKeyFile)
	ep := []string{"--endpoints", addr, "--timeout", "3s"}

	must(t, 0, "", append(ep, "--cacert", ca, "--cert", cert, "--key", key, "kv", "create", "t1/ns1/cfg")...)

	// The same files from the environment.
	env := map[string]string{"FLOWMESH_CACERT": ca, "FLOWMESH_CERT": cert, "FLOWMESH_KEY": key}
	var out, errb bytes.Buffer
	if code := run(t.Context(), append(ep, "kv", "put", "t1/ns1/cfg", "k", "v"), func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("with FLOWMESH_CACERT/CERT/KEY: exit %d: %s", code, errb.String())
	}
	// A command with a --key flag of its own (stream write's event key):
	// FLOWMESH_KEY is still the client key, not the event's (the compose
	// smoke test's stream write failed with "FLOWMESH_CERT and FLOWMESH_KEY
	// go together").
	must(t, 0, "", append(ep, "--cacert", ca, "--cert", cert, "--key", key, "stream", "create", "t1/ns1/ev")...)
	for _, args := range [][]string{{"stream", "write", "t1/ns1/ev", "e1"}, {"stream", "write", "t1/ns1/ev", "e2", "--key", "user-7"}} {
		out.Reset()
		errb.Reset()
		if code := run(t.Context(), append(append([]string{}, ep...), args...), func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb); code != 0 {
			t.Fatalf("%q with FLOWMESH_CACERT/CERT/KEY: exit %d: %s", args, code, errb.String())
		}
	}

	// No client certificate, or plaintext: refused by the node (exit 1).
	must(t, 1, "", append(ep, "--cacert", ca, "kv", "get", "t1/ns1/cfg", "k")...)
	must(t, 1, "", append(ep, "kv", "get", "t1/ns1/cfg", "k")...)

	// Bad or missing files: usage errors naming the file (exit 2).
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cacert", "/nope/ca.crt"}, "/nope/ca.crt"},
		{[]string{"--cacert", ca, "--cert", cert}, "--cert and --key go together"},
		{[]string{"--cacert", key}, key},
		{[]string{"--cacert", ca, "--cert", cert, "--key", filepath.Join(dir, certs.NodeKeyFile)}, cert},
	} {
		r := cli(t, "", append(append(append([]string{}, ep...), tc.args...), "kv", "get", "t1/ns1/cfg", "k")...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("flowmesh %q: exit %d, stderr %q; want 2 and a message naming %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}
