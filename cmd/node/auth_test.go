package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh/client"
)

// addToken runs "token add" in-process and returns the printed token.
func addToken(t *testing.T, file, subject string, grants ...string) string {
	t.Helper()
	args := []string{"add", "--file", file, "--subject", subject}
	for _, g := range grants {
		args = append(args, "--grant", g)
	}
	var out, errb bytes.Buffer
	if code := runToken(args, &out, &errb); code != 0 {
		t.Fatalf("token add: exit %d: %s", code, errb.String())
	}
	tok := strings.TrimSpace(out.String())
	if tok == "" || strings.Contains(tok, "\n") {
		t.Fatalf("token add printed %q, want one token", out.String())
	}
	return tok
}

func TestTokenAddUsageErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	for _, args := range [][]string{
		nil,
		{"remove"},
		{"add", "--subject", "a", "--grant", "t:read"},
		{"add", "--file", file, "--grant", "t:read"},
		{"add", "--file", file, "--subject", "a"},
		{"add", "--file", file, "--subject", "a", "--grant", "t:own"},
	} {
		var out, errb bytes.Buffer
		if code := runToken(args, &out, &errb); code != 2 || out.Len() != 0 || errb.Len() == 0 {
			t.Errorf("token %q: exit %d, stdout %q, stderr %q; want 2, nothing, a message", args, code, out.String(), errb.String())
		}
	}
	if _, err := os.Stat(file); err == nil {
		data, _ := os.ReadFile(file)
		if len(bytes.TrimSpace(data)) != 0 {
			t.Errorf("refused token adds wrote %q", data)
		}
	}
}

func authClient(t *testing.T, addr, token string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Endpoints: []string{addr}, RequestTimeout: 10 * time.Second, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func httpStatus(t *testing.T, url, token string) int {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestNodeWithAuthFile: a node started with --auth-file serves a client
// holding a token made by "token add", refuses one without, reloads the
// file on SIGHUP, and guards pprof with a cluster-admin token.
func TestNodeWithAuthFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	t1 := addToken(t, file, "app", "t1:admin")
	ops := addToken(t, file, "ops", "cluster-admin")
	data, _ := os.ReadFile(file)
	if strings.Contains(string(data), t1) || strings.Contains(string(data), ops) {
		t.Fatal("the token file holds a token")
	}
	p := startNode(t, t.TempDir(), "--auth-file", file, "--enable-pprof", "--gossip-key", "c2VjcmV0LWdvc3NpcC0xNg==")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	if _, err := authClient(t, p.grpcAddr, t1).CreateKVStore(ctx, "t1", "ns", "kv"); err != nil {
		t.Fatalf("with a token: %v", err)
	}
	if _, err := newClient(t, p.grpcAddr).CreateKVStore(ctx, "t1", "ns", "kv2"); status.Code(err) != codes.Unauthenticated {
		t.Errorf("without a token: %v, want Unauthenticated", err)
	}
	if _, err := authClient(t, p.grpcAddr, t1).CreateKVStore(ctx, "t2", "ns", "kv"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("t1's token in t2: %v, want PermissionDenied", err)
	}

	// A token added while the node runs works after SIGHUP.
	late := addToken(t, file, "late", "t2:admin")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := authClient(t, p.grpcAddr, late).CreateKVStore(ctx, "t2", "ns", "kv")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the token added before SIGHUP is still refused: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	base := "http://" + p.httpAddr + "/debug/pprof/"
	for _, c := range []struct {
		url, token string
		want       int
	}{
		{base, "", http.StatusUnauthorized},
		{base, "wrong", http.StatusUnauthorized},
		{base, t1, http.StatusForbidden},
		{base, ops, http.StatusOK},
		{base + "goroutine?debug=1", ops, http.StatusOK},
		{base + "cmdline", ops, http.StatusNotFound},
		{"http://" + p.httpAddr + "/readyz", "", http.StatusOK},
	} {
		if got := httpStatus(t, c.url, c.token); got != c.want {
			t.Errorf("GET %s (token %v): %d, want %d", c.url, c.token != "", got, c.want)
		}
	}
	logs := p.logs.String()
	for _, secret := range []string{t1, ops, late, "c2VjcmV0LWdvc3NpcC0xNg=="} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs hold a secret %q", secret)
		}
	}
}

// TestNodeOpenByDefault: without --auth-file the node warns, and without
// --enable-pprof there is no pprof.
func TestNodeOpenByDefault(t *testing.T) {
	p := startNode(t, t.TempDir())
	if got := httpStatus(t, "http://"+p.httpAddr+"/debug/pprof/", ""); got != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without --enable-pprof: %d, want 404", got)
	}
	if got := httpStatus(t, "http://"+p.httpAddr+"/debug/pprof/cmdline", ""); got != http.StatusNotFound {
		t.Errorf("/debug/pprof/cmdline: %d, want 404", got)
	}
	if logs := p.logs.String(); !strings.Contains(logs, "authentication is off") {
		t.Errorf("no warning that authentication is off:\n%s", logs)
	}
}
