package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowmesh/flowmesh/internal/auth"
	"github.com/flowmesh/flowmesh/rpc"
)

func TestTokenFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens")
	tok, err := auth.AddToken(file, "app", []string{"t1:admin"})
	if err != nil {
		t.Fatal(err)
	}
	store, err := auth.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	addr := startNodeWith(t, func(c *rpc.Config) { c.Auth = store })
	tokFile := filepath.Join(dir, "tok")
	if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ep := "--endpoints=" + addr
	run1 := func(env map[string]string, args ...string) result {
		t.Helper()
		var out, errb bytes.Buffer
		code := run(t.Context(), append([]string{ep}, args...), func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
		return result{code, out.String(), errb.String()}
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want int
	}{
		{"no token", nil, []string{"kv", "create", "t1/ns/a"}, 1},
		{"--token", nil, []string{"--token", tok, "kv", "create", "t1/ns/b"}, 0},
		{"--token-file", nil, []string{"--token-file", tokFile, "kv", "create", "t1/ns/c"}, 0},
		{"FLOWMESH_TOKEN", map[string]string{"FLOWMESH_TOKEN": tok}, []string{"kv", "create", "t1/ns/d"}, 0},
		{"FLOWMESH_TOKEN_FILE", map[string]string{"FLOWMESH_TOKEN_FILE": tokFile}, []string{"kv", "create", "t1/ns/e"}, 0},
		{"another tenant", nil, []string{"--token", tok, "kv", "create", "t2/ns/a"}, 1},
		{"both flags", nil, []string{"--token", tok, "--token-file", tokFile, "kv", "create", "t1/ns/f"}, 2},
		{"missing file", nil, []string{"--token-file", filepath.Join(dir, "none"), "kv", "create", "t1/ns/g"}, 2},
	}
	for _, c := range cases {
		r := run1(c.env, c.args...)
		if r.code != c.want {
			t.Errorf("%s: exit %d, want %d\nstderr: %s", c.name, r.code, c.want, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, tok) {
			t.Errorf("%s: the output shows the token", c.name)
		}
	}
}
