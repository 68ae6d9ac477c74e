package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "node.conf")
	if err := os.WriteFile(file, []byte("# comment\n\ndata-dir = /from/file\ngrpc-addr = :1\nlog-format = json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"FLOWMESH_GRPC_ADDR": ":2", "FLOWMESH_FLUSH_INTERVAL": "2s", "FLOWMESH_CONFIG": file}
	c, err := parseConfig([]string{"--log-format", "text"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"data-dir (file)", c.DataDir, "/from/file"},
		{"grpc-addr (env over file)", c.GRPCAddr, ":2"},
		{"log-format (flag over file)", c.LogFormat, "text"},
		{"http-addr (default)", c.HTTPAddr, ":7403"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if c.FlushInterval != 2*time.Second {
		t.Errorf("flush-interval = %v, want 2s", c.FlushInterval)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--bogus"}, nil, "not defined"},
		{[]string{"--join", "a:1"}, nil, "not supported until the cluster issue"},
		{[]string{"--bootstrap-expect", "3"}, nil, "not supported until the cluster issue"},
		{[]string{"--log-format", "xml"}, nil, "--log-format"},
		{[]string{"--grpc-addr", "nope"}, nil, "--grpc-addr"},
		{nil, map[string]string{"FLOWMESH_SEGMENT_MAX_SIZE": "big"}, "FLOWMESH_SEGMENT_MAX_SIZE"},
		{[]string{"extra"}, nil, "unexpected arguments"},
		{[]string{"--config", "/does/not/exist"}, nil, "no such file"},
	} {
		_, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseConfig(%q, %v) = %v, want an error containing %q", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestRunUsageExitCode(t *testing.T) {
	getenv := func(string) string { return "" }
	if code := run(t.Context(), []string{"--log-level", "loud"}, getenv, io.Discard); code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
	if code := run(t.Context(), []string{"-h"}, getenv, io.Discard); code != 0 {
		t.Errorf("-h: exit %d, want 0", code)
	}
}
