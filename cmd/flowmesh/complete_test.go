package main

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// complete runs cobra's hidden __complete command and returns the
// candidates and the directive.
func complete(t *testing.T, env map[string]string, args ...string) ([]string, cobra.ShellCompDirective) {
	t.Helper()
	r := cliEnv(t, env, append([]string{cobra.ShellCompRequestCmd}, args...)...)
	if r.code != 0 {
		t.Fatalf("__complete %q: exit %d: %s", args, r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	last := lines[len(lines)-1]
	d, err := strconv.Atoi(strings.TrimPrefix(last, ":"))
	if !strings.HasPrefix(last, ":") || err != nil {
		t.Fatalf("__complete %q: no directive in %q", args, r.stdout)
	}
	var out []string
	for _, l := range lines[:len(lines)-1] {
		if l != "" {
			out = append(out, strings.SplitN(l, "\t", 2)[0])
		}
	}
	return out, cobra.ShellCompDirective(d)
}

// TestCompletion: resource paths complete from the cluster, by kind, and
// never as file names.
func TestCompletion(t *testing.T) {
	addr := startNode(t)
	ep := []string{"--endpoints", addr}
	fm := func(args ...string) { t.Helper(); must(t, 0, "", append(append([]string{}, ep...), args...)...) }
	fm("kv", "create", "t1/ns1/cfg")
	fm("kv", "put", "t1/ns1/cfg", "alpha", "1")
	fm("kv", "put", "t1/ns1/cfg", "beta", "2")
	fm("stream", "create", "t1/ns1/events")
	fm("queue", "create", "t1/ns2/jobs")
	fm("queue", "create", "t1/ns2/dead")
	env := map[string]string{"FLOWMESH_ENDPOINTS": addr}

	const nofile = cobra.ShellCompDirectiveNoFileComp
	for _, tc := range []struct {
		args []string
		want []string
		dir  cobra.ShellCompDirective
	}{
		{[]string{"kv", "get", "t1"}, []string{"t1/ns1/"}, nofile | cobra.ShellCompDirectiveNoSpace},
		{[]string{"kv", "get", "t1/"}, []string{"t1/ns1/"}, nofile | cobra.ShellCompDirectiveNoSpace},
		{[]string{"kv", "get", "t1/ns1/"}, []string{"t1/ns1/cfg"}, nofile},
		{[]string{"kv", "get", "t1/ns1/cfg", ""}, []string{"alpha", "beta"}, nofile},
		{[]string{"kv", "del", "t1/ns1/cfg", "b"}, []string{"beta"}, nofile},
		{[]string{"stream", "read", "t1/ns1/"}, []string{"t1/ns1/events"}, nofile},
		{[]string{"queue", "stats", "t1/"}, []string{"t1/ns2/"}, nofile | cobra.ShellCompDirectiveNoSpace},
		{[]string{"queue", "stats", "t1/ns2/"}, []string{"t1/ns2/dead", "t1/ns2/jobs"}, nofile},
		{[]string{"queue", "stats", "t1/ns2/j"}, []string{"t1/ns2/jobs"}, nofile},
		{[]string{"resources", "get", "t1/ns"}, []string{"t1/ns1/", "t1/ns2/"}, nofile | cobra.ShellCompDirectiveNoSpace},
		{[]string{"resources", "delete", "t1/ns2/"}, []string{"t1/ns2/dead", "t1/ns2/jobs"}, nofile},
		{[]string{"stream", "create", "t1/"}, []string{"t1/ns1/", "t1/ns2/"}, nofile | cobra.ShellCompDirectiveNoSpace},
		{[]string{"stream", "create", "t1/ns1/"}, []string{"t1/ns1/"}, nofile | cobra.ShellCompDirectiveNoSpace}, // no existing names
		{[]string{"queue", "create", "t1/ns2/x", "--dead-letter", "t1/ns2/"}, []string{"t1/ns2/dead", "t1/ns2/jobs"}, nofile},
		{[]string{"resources", "list", "t1", ""}, []string{"ns1", "ns2"}, nofile},
		{[]string{"kv", "get", "t9/"}, nil, nofile | cobra.ShellCompDirectiveNoSpace}, // a tenant with nothing
		{[]string{"kv", "get", "bad tenant/"}, nil, nofile},
		{[]string{"queue", "ack", "t1/ns2/jobs", ""}, nil, nofile},
		{[]string{"cluster", "status", ""}, nil, nofile},
		{[]string{"-o", ""}, []string{"json", "table"}, nofile},
	} {
		got, dir := complete(t, env, tc.args...)
		slices.Sort(got)
		if !slices.Equal(got, tc.want) || dir != tc.dir {
			t.Errorf("complete %q = %q, directive %d; want %q, %d", tc.args, got, dir, tc.want, tc.dir)
		}
	}
	// The flags on the line count, as for a command.
	if got, _ := complete(t, nil, "kv", "get", "--endpoints", addr, "t1/ns1/"); !slices.Equal(got, []string{"t1/ns1/cfg"}) {
		t.Errorf("complete with --endpoints on the line = %q", got)
	}
	// No node: nothing (not file names), within the completion bound.
	start := time.Now()
	got, dir := complete(t, map[string]string{"FLOWMESH_ENDPOINTS": "127.0.0.1:1"}, "kv", "get", "t1/")
	if len(got) != 0 || dir&nofile == 0 || time.Since(start) > completionTimeout+5*time.Second {
		t.Errorf("complete without a node = %q, directive %d, after %v", got, dir, time.Since(start))
	}
}
