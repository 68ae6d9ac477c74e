package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTxnCommand(t *testing.T) {
	ep := []string{"--endpoints", startNode(t)}
	fm := func(want int, stdin string, args ...string) result {
		t.Helper()
		return must(t, want, stdin, append(append([]string{}, ep...), args...)...)
	}
	fm(0, "", "kv", "create", "t1/ns/acct")
	fm(0, "", "stream", "create", "t1/ns/ledger")
	fm(0, "", "queue", "create", "t1/ns/notify")
	fm(0, "", "kv", "put", "t1/ns/acct", "a", "100")

	transfer := `{"compare": [{"target": "kv_value", "path": "t1/ns/acct", "key": "a", "value": "100"},
	                           {"target": "kv_exists", "path": "t1/ns/acct", "key": "b", "exists": false}],
	  "then": [{"op": "put", "path": "t1/ns/acct", "key": "a", "value": "70"},
	           {"op": "put", "path": "t1/ns/acct", "key": "b", "value_base64": "MzA=", "ttl": "1h"},
	           {"op": "append", "path": "t1/ns/ledger", "events": [{"payload": "a->b 30", "key": "a", "headers": {"kind": "transfer"}}]},
	           {"op": "enqueue", "path": "t1/ns/notify", "payload": "a->b 30", "dedup_id": "t-1", "delay": "0s"}],
	  "else": [{"op": "get", "path": "t1/ns/acct", "key": "a"}, {"op": "range", "path": "t1/ns/acct", "prefix": ""}]}`
	file := filepath.Join(t.TempDir(), "transfer.json")
	if err := os.WriteFile(file, []byte(transfer), 0o644); err != nil {
		t.Fatal(err)
	}
	var res txnResultJSON
	decode(t, fm(0, "", "txn", file, "-o", "json", "--request-id", "transfer-1").stdout, &res)
	if !res.Succeeded || res.Branch != "then" || len(res.Results) != 4 || res.Results[2].Op != "append" || len(res.Results[2].Positions) != 1 || res.Results[3].JobID == "" {
		t.Fatalf("transfer = %+v", res)
	}
	// The same request ID again: the first result, nothing applied twice.
	var again txnResultJSON
	decode(t, fm(0, transfer, "txn", "-", "-o", "json", "--request-id", "transfer-1").stdout, &again)
	if again.Revision != res.Revision || again.Results[3].JobID != res.Results[3].JobID {
		t.Fatalf("repeat with the request ID = %+v, want %+v", again, res)
	}
	if r := fm(0, "", "kv", "get", "t1/ns/acct", "b"); r.stdout != "30\n" {
		t.Errorf("b = %q, want 30", r.stdout)
	}
	// Without it, the compares fail now: the else branch reads.
	r := fm(0, transfer, "txn")
	if !strings.Contains(r.stdout, "branch else") || !strings.Contains(r.stdout, `a="70"`) {
		t.Errorf("stale transfer, table output:\n%s", r.stdout)
	}
	// A failing op: exit 1, the error names it, nothing changes.
	r = fm(1, `{"then": [{"op": "put", "path": "t1/ns/acct", "key": "c", "value": "x"}, {"op": "delete", "path": "t1/ns/acct", "key": "nope"}]}`, "txn")
	if !strings.Contains(r.stderr, "then[1]") {
		t.Errorf("stderr %q does not name then[1]", r.stderr)
	}
	fm(1, "", "kv", "get", "t1/ns/acct", "c")

	for _, bad := range []string{
		``,
		`{"then": [{"op": "put"`,
		`{"then": [{"op": "frobnicate", "path": "t1/ns/acct"}]}`,
		`{"then": [{"op": "put", "path": "t1/ns/acct", "key": "k", "vaule": "typo"}]}`,
		`{"then": [{"op": "put", "path": "t1/ns/acct", "key": "k", "value": "a", "value_base64": "YQ=="}]}`,
		`{"then": [{"op": "put", "path": "t1/ns/acct", "key": "k", "ttl": "soon"}]}`,
		`{"compare": [{"target": "kv_revision", "path": "t1/ns/acct", "key": "k"}]}`,
		`{"compare": [{"target": "kv_exists", "path": "t1/ns/acct", "key": "k", "exists": true, "op": "<"}]}`,
		`{"then": [{"op": "put", "path": "t1/ns/acct", "key": "k"}, {"op": "put", "path": "t2/ns/acct", "key": "k"}]}`,
		`{} {}`,
	} {
		r := fm(exitUsage, bad, "txn")
		if !strings.Contains(r.stderr, "Error:") {
			t.Errorf("txn %s: stderr %q lacks the error", bad, r.stderr)
		}
	}
	fm(exitUsage, "", "txn", filepath.Join(t.TempDir(), "missing.json"))
}
