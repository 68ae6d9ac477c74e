package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/flowmesh/flowmesh/internal/auth"
	"github.com/flowmesh/flowmesh/rpc"
)

// cliEnv runs the CLI with env as its whole environment.
func cliEnv(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
	recordRun(args, code)
	return result{code, out.String(), errb.String()}
}

// TestEveryGlobalFlagHasAVariable: each global flag names its FLOWMESH_*
// variable in its help and the variable sets it (flag > variable).
func TestEveryGlobalFlagHasAVariable(t *testing.T) {
	a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
	root := a.rootCmd(func(string) string { return "" })
	handled := append(slices.Clone(settingFlags), "token", "token-file", "context")
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) {
		if !strings.Contains(f.Usage, "env "+envName(f.Name)) {
			t.Errorf("--%s: help %q does not name %s", f.Name, f.Usage, envName(f.Name))
		}
		if !slices.Contains(handled, f.Name) {
			t.Errorf("--%s: no environment variable reads it (settle)", f.Name)
		}
	})
	if envName("token-file") != "FLOWMESH_TOKEN_FILE" {
		t.Errorf("envName(token-file) = %s", envName("token-file"))
	}
}

func TestEnvironmentVariables(t *testing.T) {
	addr := startNode(t)
	env := map[string]string{"FLOWMESH_ENDPOINTS": addr}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"FLOWMESH_ENDPOINTS": addr}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	if r := cliEnv(t, env, "kv", "create", "t1/ns1/cfg"); r.code != 0 {
		t.Fatalf("FLOWMESH_ENDPOINTS: exit %d: %s", r.code, r.stderr)
	}
	cliEnv(t, env, "kv", "put", "t1/ns1/cfg", "k", "v")

	// FLOWMESH_OUTPUT picks JSON; the flag beats it.
	if r := cliEnv(t, with("FLOWMESH_OUTPUT", "json"), "kv", "get", "t1/ns1/cfg", "k"); r.code != 0 || !json.Valid([]byte(r.stdout)) {
		t.Errorf("FLOWMESH_OUTPUT=json: exit %d, stdout %q", r.code, r.stdout)
	}
	if r := cliEnv(t, with("FLOWMESH_OUTPUT", "json"), "-o", "table", "kv", "get", "t1/ns1/cfg", "k"); r.stdout != "v\n" {
		t.Errorf("-o table with FLOWMESH_OUTPUT=json: %q", r.stdout)
	}
	// The flag beats FLOWMESH_ENDPOINTS.
	if r := cliEnv(t, map[string]string{"FLOWMESH_ENDPOINTS": "127.0.0.1:1"}, "--endpoints", addr, "kv", "get", "t1/ns1/cfg", "k"); r.code != 0 {
		t.Errorf("--endpoints over a dead FLOWMESH_ENDPOINTS: exit %d: %s", r.code, r.stderr)
	}
	// FLOWMESH_TIMEOUT bounds the call; the flag beats it (a bad
	// variable is not even read when the flag is given).
	if r := cliEnv(t, map[string]string{"FLOWMESH_ENDPOINTS": "127.0.0.1:1", "FLOWMESH_TIMEOUT": "300ms"}, "kv", "get", "t1/ns1/cfg", "k"); r.code != 1 {
		t.Errorf("FLOWMESH_TIMEOUT=300ms against no node: exit %d, want 1", r.code)
	}
	if r := cliEnv(t, with("FLOWMESH_TIMEOUT", "soon"), "--timeout", "5s", "kv", "get", "t1/ns1/cfg", "k"); r.code != 0 {
		t.Errorf("--timeout over a bad FLOWMESH_TIMEOUT: exit %d: %s", r.code, r.stderr)
	}
	if r := cliEnv(t, with("FLOWMESH_CONSISTENCY", "stale"), "kv", "get", "t1/ns1/cfg", "k"); r.code != 0 {
		t.Errorf("FLOWMESH_CONSISTENCY=stale: exit %d: %s", r.code, r.stderr)
	}

	// A bad value is a usage error naming the variable.
	for _, tc := range []struct{ name, value string }{
		{"FLOWMESH_TIMEOUT", "soon"},
		{"FLOWMESH_TIMEOUT", "-1s"},
		{"FLOWMESH_OUTPUT", "yaml"},
		{"FLOWMESH_CONSISTENCY", "eventual"},
		{"FLOWMESH_ENDPOINTS", "http://127.0.0.1:7400"},
		{"FLOWMESH_CACERT", "/no/such/ca.pem"},
		{"FLOWMESH_CERT", "/no/such/cert.pem"},
		{"FLOWMESH_TOKEN_FILE", "/no/such/token"},
		{"FLOWMESH_CONTEXT", "nosuch"},
	} {
		env := with(tc.name, tc.value, "HOME", t.TempDir())
		r := cliEnv(t, env, "kv", "get", "t1/ns1/cfg", "k")
		want := tc.name
		if tc.name == "FLOWMESH_CACERT" {
			want = tc.value // the certs loader names the file (FLOWMESH_CERT alone: "FLOWMESH_CERT and --key go together")
		}
		if r.code != exitUsage || !strings.Contains(r.stderr, want) {
			t.Errorf("%s=%s: exit %d, stderr %q; want 2 and a message naming %s", tc.name, tc.value, r.code, r.stderr, want)
		}
	}
	if r := cliEnv(t, with("FLOWMESH_TOKEN", "a", "FLOWMESH_TOKEN_FILE", "b"), "kv", "get", "t1/ns1/cfg", "k"); r.code != exitUsage {
		t.Errorf("FLOWMESH_TOKEN and FLOWMESH_TOKEN_FILE both set: exit %d, want 2", r.code)
	}
}

// TestContexts: save, list, show, select, rm, with the precedence flag >
// variable > context > default, against a node that requires a token.
func TestContexts(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	tok, err := auth.AddToken(tokens, "app", []string{"t1:admin"})
	if err != nil {
		t.Fatal(err)
	}
	store, err := auth.Open(tokens)
	if err != nil {
		t.Fatal(err)
	}
	addr := startNodeWith(t, func(c *rpc.Config) { c.Auth = store })
	tokFile := filepath.Join(dir, "tok")
	if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	xdg := filepath.Join(dir, "xdg")
	env := map[string]string{"XDG_CONFIG_HOME": xdg, "HOME": filepath.Join(dir, "home")}
	fm := func(want int, extra map[string]string, args ...string) result {
		t.Helper()
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		for k, v := range extra {
			e[k] = v
		}
		r := cliEnv(t, e, args...)
		if r.code != want {
			t.Fatalf("flowmesh %q (env %v): exit %d, want %d\nstdout: %s\nstderr: %s", args, extra, r.code, want, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, tok) {
			t.Errorf("flowmesh %q shows the token", args)
		}
		return r
	}

	if r := fm(0, nil, "context", "list", "-o", "json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("context list with none: %q", r.stdout)
	}
	fm(1, nil, "--endpoints", addr, "--timeout", "2s", "kv", "create", "t1/ns/a") // no token: refused

	// A context with a token file: the file's path is stored, not the token.
	fm(0, nil, "context", "save", "prod", "--endpoints", addr, "--token-file", tokFile, "--timeout", "5s", "--select")
	file := filepath.Join(xdg, "flowmesh", "contexts", "prod.json")
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", file, fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(file)); di.Mode().Perm() != 0o700 {
		t.Errorf("contexts dir: mode %v, want 0700", di.Mode().Perm())
	}
	b, _ := os.ReadFile(file)
	var saved map[string]string
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	if saved["token_file"] != tokFile || saved["endpoints"] != addr || saved["timeout"] != "5s" || saved["token"] != "" {
		t.Errorf("prod.json = %s", b)
	}

	// The selected context supplies endpoints and token.
	fm(0, nil, "kv", "create", "t1/ns/a")
	fm(0, nil, "kv", "put", "t1/ns/a", "k", "v")
	// A variable beats the context, a flag beats the variable.
	fm(1, map[string]string{"FLOWMESH_ENDPOINTS": "127.0.0.1:1", "FLOWMESH_TIMEOUT": "300ms"}, "kv", "get", "t1/ns/a", "k")
	fm(0, map[string]string{"FLOWMESH_ENDPOINTS": "127.0.0.1:1"}, "--endpoints", addr, "kv", "get", "t1/ns/a", "k")
	fm(1, map[string]string{"FLOWMESH_TOKEN": "wrong"}, "kv", "get", "t1/ns/a", "k")

	// A context saved with --token stores it (and says so); --context and
	// FLOWMESH_CONTEXT pick a context over the selected one.
	r := fm(0, nil, "context", "save", "dead", "--endpoints", "127.0.0.1:1", "--timeout", "300ms", "--token", "not-a-token")
	if !strings.Contains(r.stderr, "plain text") {
		t.Errorf("save --token: stderr %q lacks the warning", r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(xdg, "flowmesh", "contexts", "dead.json")); !strings.Contains(string(b), `"token": "not-a-token"`) {
		t.Errorf("dead.json = %s", b)
	}
	fm(1, nil, "--context", "dead", "kv", "get", "t1/ns/a", "k")
	fm(1, map[string]string{"FLOWMESH_CONTEXT": "dead"}, "kv", "get", "t1/ns/a", "k")
	fm(0, map[string]string{"FLOWMESH_CONTEXT": "dead"}, "--context", "prod", "kv", "get", "t1/ns/a", "k")
	if r := fm(2, nil, "--context", "nosuch", "kv", "get", "t1/ns/a", "k"); !strings.Contains(r.stderr, "--context") || !strings.Contains(r.stderr, "nosuch") {
		t.Errorf("--context nosuch: stderr %q", r.stderr)
	}

	var list []struct {
		Name      string `json:"name"`
		Selected  bool   `json:"selected"`
		Endpoints string `json:"endpoints"`
	}
	decode(t, fm(0, nil, "context", "list", "-o", "json").stdout, &list)
	if len(list) != 2 || list[0].Name != "dead" || list[0].Selected || list[1].Name != "prod" || !list[1].Selected || list[1].Endpoints != addr {
		t.Errorf("context list = %+v", list)
	}
	var shown map[string]any
	decode(t, fm(0, nil, "context", "show", "dead", "-o", "json").stdout, &shown)
	if shown["token_stored"] != true || shown["token"] != nil || shown["endpoints"] != "127.0.0.1:1" {
		t.Errorf("context show dead = %v", shown)
	}
	if r := fm(0, nil, "context", "show"); !strings.Contains(r.stdout, "prod") || !strings.Contains(r.stdout, tokFile) {
		t.Errorf("context show (the selected):\n%s", r.stdout)
	}
	fm(0, nil, "context", "select", "dead")
	fm(1, nil, "kv", "get", "t1/ns/a", "k")
	fm(2, nil, "context", "select", "nosuch")
	// unselect: no context applies, so a command without --endpoints
	// goes to the default, not to the selected context's address.
	fm(0, nil, "context", "unselect")
	fm(2, nil, "context", "show")
	fm(0, nil, "context", "select", "dead")

	// A context with a bad value: a usage error naming the context.
	if err := os.WriteFile(filepath.Join(xdg, "flowmesh", "contexts", "bad.json"), []byte(`{"timeout":"soon"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := fm(2, nil, "--context", "bad", "kv", "get", "t1/ns/a", "k"); !strings.Contains(r.stderr, `context "bad"`) || !strings.Contains(r.stderr, "timeout") {
		t.Errorf("bad context: stderr %q", r.stderr)
	}

	// Misuse.
	fm(2, nil, "context", "save", "x")                                         // nothing to save
	fm(2, nil, "context", "save", "../x", "--endpoints", addr)                 // not a name
	fm(2, nil, "context", "save", "x", "--endpoints", "http://127.0.0.1:7400") // checked as a command would
	fm(2, nil, "context", "save", "x", "--token-file", filepath.Join(dir, "none"))
	fm(2, nil, "context", "rm", "nosuch")

	// rm of the selected context unselects it; then the default applies.
	fm(0, nil, "context", "rm", "dead")
	fm(2, nil, "context", "show")
	if _, err := os.Stat(filepath.Join(xdg, "flowmesh", "contexts", "dead.json")); !os.IsNotExist(err) {
		t.Errorf("dead.json after rm: %v", err)
	}
	// Without XDG_CONFIG_HOME, contexts live under $HOME/.config.
	delete(env, "XDG_CONFIG_HOME")
	fm(0, nil, "context", "save", "home", "--endpoints", addr)
	if _, err := os.Stat(filepath.Join(dir, "home", ".config", "flowmesh", "contexts", "home.json")); err != nil {
		t.Error(err)
	}
}
