package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/json")

// binary is the example of a payload that is not text.
var binary = []byte("bin\x00\xff\xfeary")

// TestBinaryRoundTrip: a binary value, event and job given with --base64
// or --file come back byte for byte with --raw, and in JSON as base64 of
// the same bytes; tables quote them; --base64 shows them in base64.
func TestBinaryRoundTrip(t *testing.T) {
	ep := []string{"--endpoints", startNode(t)}
	fm := func(want int, stdin string, args ...string) result {
		t.Helper()
		return must(t, want, stdin, append(append([]string{}, ep...), args...)...)
	}
	b64 := base64.StdEncoding.EncodeToString(binary)
	file := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(file, binary, 0o600); err != nil {
		t.Fatal(err)
	}
	b64file := filepath.Join(t.TempDir(), "bin.b64")
	if err := os.WriteFile(b64file, []byte(b64+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fromJSON := func(s string, field string) []byte {
		t.Helper()
		var m map[string]json.RawMessage
		decode(t, s, &m)
		var b []byte
		if err := json.Unmarshal(m[field], &b); err != nil {
			t.Fatalf("%s is not base64: %v\n%s", field, err, s)
		}
		return b
	}

	// KV.
	fm(0, "", "kv", "create", "t1/ns1/cfg")
	fm(0, "", "kv", "put", "t1/ns1/cfg", "b64", "--base64", b64)
	fm(0, "", "kv", "put", "t1/ns1/cfg", "file", "--file", file)
	fm(0, b64, "kv", "put", "t1/ns1/cfg", "stdin", "-", "--base64")
	fm(0, "", "kv", "put", "t1/ns1/cfg", "b64file", "--file", b64file, "--base64")
	for _, key := range []string{"b64", "file", "stdin", "b64file"} {
		if got := fm(0, "", "kv", "get", "t1/ns1/cfg", key, "--raw").stdout; got != string(binary) {
			t.Errorf("kv get %s --raw = %q, want %q", key, got, binary)
		}
		if got := fromJSON(fm(0, "", "kv", "get", "t1/ns1/cfg", key, "-o", "json").stdout, "value"); !bytes.Equal(got, binary) {
			t.Errorf("kv get %s -o json: value decodes to %q, want %q", key, got, binary)
		}
	}
	if got := fm(0, "", "kv", "get", "t1/ns1/cfg", "b64", "--base64").stdout; got != b64+"\n" {
		t.Errorf("kv get --base64 = %q, want %q", got, b64+"\n")
	}
	if got := fm(0, "", "kv", "list", "t1/ns1/cfg").stdout; !strings.Contains(got, strconv.Quote(string(binary))) {
		t.Errorf("kv list table does not quote the binary value:\n%s", got)
	}
	w := fm(0, "", "kv", "watch", "t1/ns1/cfg", "--from-revision", "1", "--max", "1", "-o", "json").stdout
	if got := fromJSON(w, "value"); !bytes.Equal(got, binary) {
		t.Errorf("kv watch -o json: value decodes to %q", got)
	}

	// In kv watch, an empty value is "" and a delete has none.
	var put struct{ Revision uint64 }
	decode(t, fm(0, "", "kv", "put", "t1/ns1/cfg", "empty", "", "-o", "json").stdout, &put)
	fm(0, "", "kv", "del", "t1/ns1/cfg", "empty")
	w = fm(0, "", "kv", "watch", "t1/ns1/cfg", "empty", "--from-revision", strconv.FormatUint(put.Revision, 10), "--max", "2", "-o", "json").stdout
	if lines := strings.Split(strings.TrimSpace(w), "\n"); len(lines) != 2 ||
		!strings.Contains(lines[0], `"value":""`) || strings.Contains(lines[1], `"value"`) || !strings.Contains(lines[1], `"delete"`) {
		t.Errorf("kv watch of an empty put and a delete:\n%s", w)
	}

	// Streams.
	fm(0, "", "stream", "create", "t1/ns1/ev")
	fm(0, "", "stream", "write", "t1/ns1/ev", "--base64", b64)
	fm(0, "", "stream", "write", "t1/ns1/ev", "--file", file)
	fm(0, b64+"\n"+b64+"\n", "stream", "write", "t1/ns1/ev", "-", "--lines", "--base64")
	if got := fm(0, "", "stream", "read", "t1/ns1/ev", "--max", "1", "--raw").stdout; got != string(binary) {
		t.Errorf("stream read --raw = %q, want %q", got, binary)
	}
	if got := fm(0, "", "stream", "read", "t1/ns1/ev", "--raw").stdout; got != strings.Repeat(string(binary), 4) {
		t.Errorf("stream read --raw of 4 events = %q, want the 4 payloads back to back", got)
	}
	var msgs []message
	decode(t, fm(0, "", "stream", "read", "t1/ns1/ev", "-o", "json").stdout, &msgs)
	if len(msgs) != 4 {
		t.Fatalf("stream read: %d events, want 4", len(msgs))
	}
	for _, m := range msgs {
		if !bytes.Equal(m.Payload, binary) {
			t.Errorf("event %d: payload %q, want %q", m.Offset, m.Payload, binary)
		}
	}
	if got := fm(0, "", "stream", "read", "t1/ns1/ev", "--base64").stdout; strings.Count(got, b64) != 4 {
		t.Errorf("stream read --base64:\n%s", got)
	}
	if got := fm(0, "", "stream", "tail", "t1/ns1/ev", "--offset", "2", "--max", "1", "--raw").stdout; got != string(binary) {
		t.Errorf("stream tail --raw = %q", got)
	}

	// Queues.
	fm(0, "", "queue", "create", "t1/ns1/q")
	fm(0, "", "queue", "enqueue", "t1/ns1/q", "--file", file)
	fm(0, "", "queue", "enqueue", "t1/ns1/q", "--base64", b64)
	fm(0, "", "queue", "enqueue", "t1/ns1/q", "--base64", b64, b64) // a batch
	r := fm(0, "", "queue", "reserve", "t1/ns1/q", "--raw")
	if r.stdout != string(binary) || !strings.Contains(r.stderr, "reserved ") {
		t.Errorf("queue reserve --raw: stdout %q, stderr %q; want the payload and the receipt on stderr", r.stdout, r.stderr)
	}
	var j job
	decode(t, fm(0, "", "queue", "reserve", "t1/ns1/q", "-o", "json").stdout, &j)
	if !bytes.Equal(j.Payload, binary) {
		t.Errorf("queue reserve -o json: payload %q, want %q", j.Payload, binary)
	}
	var js []job
	decode(t, fm(0, "", "queue", "reserve", "t1/ns1/q", "--max", "5", "-o", "json").stdout, &js)
	if len(js) != 2 || !bytes.Equal(js[0].Payload, binary) || !bytes.Equal(js[1].Payload, binary) {
		t.Errorf("reserve of the batch = %+v", js)
	}

	// Misuse.
	for _, args := range [][]string{
		{"kv", "get", "t1/ns1/cfg", "b64", "--raw", "-o", "json"},
		{"kv", "get", "t1/ns1/cfg", "b64", "--raw", "--base64"},
		{"kv", "put", "t1/ns1/cfg", "k", "--base64", "not base64!"},
		{"stream", "write", "t1/ns1/ev", "--base64", b64, "%%%"},
		{"queue", "enqueue", "t1/ns1/q", "--base64", "@@"},
		{"stream", "read", "t1/ns1/ev", "--raw", "-o", "json"},
		{"queue", "reserve", "t1/ns1/q", "--raw", "-o", "json"},
	} {
		if r := fm(2, "", args...); !strings.Contains(r.stderr, "--") {
			t.Errorf("flowmesh %q: stderr %q does not name the flag", args, r.stderr)
		}
	}
}

// TestJSONGolden: the JSON of a few commands, field for field, against
// testdata/json/*.json (go test -run TestJSONGolden -update rewrites them).
// Values that differ from run to run (times, raft indexes, job IDs) are
// replaced by "<varies>" after checking they are present and well formed.
func TestJSONGolden(t *testing.T) {
	ep := []string{"--endpoints", startNode(t), "-o", "json"}
	fm := func(args ...string) string {
		t.Helper()
		return must(t, 0, "", append(append([]string{}, ep...), args...)...).stdout
	}
	b64 := base64.StdEncoding.EncodeToString(binary)
	fm("kv", "create", "t1/ns1/cfg", "--history", "5")
	fm("kv", "put", "t1/ns1/cfg", "blob", "--base64", b64)
	fm("kv", "put", "t1/ns1/cfg", "temp", "x", "--ttl", "1h")
	fm("stream", "create", "t1/ns1/ev", "--partitions", "2", "--max-age", "168h", "--max-bytes", "1000000")
	fm("stream", "create", "t1/ns2/one")
	fm("stream", "write", "t1/ns2/one", "--base64", b64, "--key", "k1", "--header", "src=test")
	fm("stream", "write", "t1/ns1/ev", "e0", "e1", "e2")
	fm("stream", "commit", "t1/ns1/ev", "g", "0", "1")
	fm("queue", "create", "t1/ns1/dead")
	fm("queue", "create", "t1/ns1/jobs", "--visibility", "1m30s", "--max-attempts", "3", "--dead-letter", "t1/ns1/dead")
	fm("queue", "enqueue", "t1/ns1/jobs", "--base64", b64)

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"kv_get", []string{"kv", "get", "t1/ns1/cfg", "blob"}},
		{"kv_list", []string{"kv", "list", "t1/ns1/cfg"}},
		{"resources_list", []string{"resources", "list", "t1", "ns1"}},
		{"stream_read", []string{"stream", "read", "t1/ns2/one"}},
		{"queue_reserve", []string{"queue", "reserve", "t1/ns1/jobs", "--visibility", "2m"}},
		{"queue_stats", []string{"queue", "stats", "t1/ns1/jobs"}},
		{"stream_info", []string{"stream", "info", "t1/ns1/ev", "--group", "g"}},
		{"resources_get", []string{"resources", "get", "t1/ns2/one"}},
		{"queue_touch", nil}, // filled below: needs the job's ID
	} {
		if tc.name == "queue_touch" {
			var j struct{ ID string }
			decode(t, fm("queue", "enqueue", "t1/ns1/jobs", "x"), &j)
			var r []job
			decode(t, fm("queue", "reserve", "t1/ns1/jobs", "--max", "2"), &r)
			if len(r) != 1 {
				t.Fatalf("reserve: %+v", r)
			}
			tc.args = []string{"queue", "touch", "t1/ns1/jobs", r[0].ID + ":1", "--visibility", "2.5s"}
		}
		got := normalize(t, fm(tc.args...))
		file := filepath.Join("testdata", "json", tc.name+".json")
		if *update {
			if err := os.WriteFile(file, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v (go test -run TestJSONGolden -update writes it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("flowmesh %s -o json:\n%s\nwant (%s):\n%s", strings.Join(tc.args, " "), got, file, want)
		}
	}
}

// varying are the fields whose values differ from run to run, and the
// check each must pass before it is replaced.
var varying = map[string]func(any) bool{
	"created_at":      isTime,
	"timestamp":       isTime,
	"enqueued_at":     isTime,
	"visible_until":   isTime,
	"expires_at":      isTime,
	"revision":        isNumber,
	"create_revision": isNumber,
	"seq":             isNumber,
	"bytes":           isNumber, // the storage format's, not the CLI's
	"id":              func(v any) bool { s, ok := v.(string); return ok && s != "" },
	"touched":         func(v any) bool { s, ok := v.(string); return ok && s != "" },
}

func isTime(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil && strings.HasSuffix(s, "Z")
}

func isNumber(v any) bool { _, ok := v.(float64); return ok }

// snakeCase is the form of every field name (headers' keys are the user's).
var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// normalize re-indents JSON output with the varying fields replaced, and
// checks every field name is snake_case.
func normalize(t *testing.T, s string) []byte {
	t.Helper()
	var v any
	decode(t, s, &v)
	var walk func(v any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if !snakeCase.MatchString(k) {
					t.Errorf("field %q is not snake_case", k)
				}
				if k == "headers" {
					continue
				}
				if ok, vary := varying[k]; vary {
					if !ok(x) {
						t.Errorf("field %s = %v (%T): not what it should be", k, x, x)
					}
					v[k] = "<varies>"
					continue
				}
				v[k] = walk(x)
			}
		case []any:
			for i := range v {
				v[i] = walk(v[i])
			}
		}
		return v
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(walk(v)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestJSONDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{{0, "0s"}, {1500 * time.Millisecond, "1.5s"}, {168 * time.Hour, "604800s"}, {time.Nanosecond, "0.000000001s"}, {-90 * time.Second, "-90s"}} {
		if got := jsonDuration(tc.d); got != tc.want {
			t.Errorf("jsonDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
		if back, err := time.ParseDuration(tc.want); err != nil || back != tc.d {
			t.Errorf("time.ParseDuration(%q) = %v, %v", tc.want, back, err)
		}
	}
}
