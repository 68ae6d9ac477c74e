package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
)

// txnFile is a transaction as `flowmesh txn` reads it (JSON). Unknown
// fields are refused, so a misspelt one is a usage error, not ignored.
type txnFile struct {
	Compare []txnCompareJSON `json:"compare"`
	Then    []txnOpJSON      `json:"then"`
	Else    []txnOpJSON      `json:"else"`
}

type txnCompareJSON struct {
	Target         string  `json:"target"` // kv_revision, kv_create_revision, kv_value, kv_exists, stream_next, job_held
	Path           string  `json:"path"`
	Key            string  `json:"key"`
	Op             string  `json:"op"` // =, !=, <, > (default =)
	Revision       *uint64 `json:"revision"`
	CreateRevision *uint64 `json:"create_revision"`
	Value          *string `json:"value"`
	ValueBase64    *string `json:"value_base64"`
	Exists         *bool   `json:"exists"`
	Partition      int     `json:"partition"`
	Next           *uint64 `json:"next"`
	JobID          string  `json:"job_id"`
	Attempt        int     `json:"attempt"`
	Held           *bool   `json:"held"`
}

type txnOpJSON struct {
	Op            string         `json:"op"` // put, delete, append, enqueue, ack, nack, get, range
	Path          string         `json:"path"`
	Key           string         `json:"key"`
	Value         *string        `json:"value"`
	ValueBase64   *string        `json:"value_base64"`
	TTL           string         `json:"ttl"`
	Events        []txnEventJSON `json:"events"`
	Payload       *string        `json:"payload"`
	PayloadBase64 *string        `json:"payload_base64"`
	Delay         string         `json:"delay"`
	DedupID       string         `json:"dedup_id"`
	JobID         string         `json:"job_id"`
	Attempt       int            `json:"attempt"`
	Prefix        string         `json:"prefix"`
	After         string         `json:"after"`
	Limit         int            `json:"limit"`
}

type txnEventJSON struct {
	Payload       *string           `json:"payload"`
	PayloadBase64 *string           `json:"payload_base64"`
	Key           string            `json:"key"`
	Partition     int               `json:"partition"`
	Headers       map[string]string `json:"headers"`
}

// txnResultJSON is a transaction's result in -o json.
type txnResultJSON struct {
	Succeeded bool           `json:"succeeded"`
	Branch    string         `json:"branch"` // then or else
	Revision  uint64         `json:"revision"`
	Results   []txnOpResJSON `json:"results"`
}

type txnOpResJSON struct {
	Op        string              `json:"op"`
	Revision  uint64              `json:"revision,omitempty"`
	Positions []flowmesh.Position `json:"positions,omitempty"`
	JobID     string              `json:"job_id,omitempty"`
	Seq       uint64              `json:"seq,omitempty"`
	Found     *bool               `json:"found,omitempty"`
	Entries   []kvEntry           `json:"entries,omitempty"`
	Truncated bool                `json:"truncated,omitempty"`
}

func (a *app) txnCmd() *cobra.Command {
	var requestID string
	cmd := &cobra.Command{
		Use:   "txn [FILE|-]",
		Short: "Run a transaction read as JSON from FILE or stdin: compares, then-ops, else-ops, all or nothing",
		Long: `Run a transaction over the KV stores, streams and queues of one tenant,
read as JSON from FILE (or stdin when FILE is "-" or absent). When every
compare holds the "then" ops run, otherwise the "else" ops; either branch
applies whole or not at all. The result says which branch ran and what each
op did. A compare that does not hold is not an error (exit 0, branch "else").

  {"compare": [{"target": "kv_revision", "path": "t1/ns/acct", "key": "a", "op": "=", "revision": 7}],
   "then": [{"op": "put", "path": "t1/ns/acct", "key": "a", "value": "70"},
            {"op": "append", "path": "t1/ns/ledger", "events": [{"payload": "a->b 30", "key": "a"}]},
            {"op": "enqueue", "path": "t1/ns/notify", "payload": "a->b 30", "dedup_id": "t-42"}],
   "else": [{"op": "get", "path": "t1/ns/acct", "key": "a"}]}

Compares ("target"): kv_revision and kv_create_revision (with "revision" or
"create_revision"), kv_value ("value", or "value_base64"), kv_exists
("exists"), stream_next ("partition", "next"), job_held ("job_id",
"attempt", "held"); "op" is =, !=, < or > (default =).
Ops ("op"): put (key, value or value_base64, ttl), delete (key), append
(events: payload or payload_base64, key, partition, headers), enqueue
(payload or payload_base64, delay, dedup_id), ack and nack (job_id, attempt;
nack: delay), get (key), range (prefix, after, limit).
Durations are Go durations ("30s"). Limits: see the README.`,
		Example: `  flowmesh txn transfer.json
  flowmesh txn - -o json < transfer.json
  flowmesh txn transfer.json --request-id transfer-42   # safe to repeat`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src := "-"
			if len(args) == 1 {
				src = args[0]
			}
			var raw []byte
			var err error
			if src == "-" {
				raw, err = io.ReadAll(a.stdin)
			} else {
				raw, err = os.ReadFile(src)
			}
			if err != nil {
				return usagef("reading the transaction: %v", err)
			}
			txn, err := parseTxn(raw)
			if err != nil {
				return usagef("transaction %s: %v", txnSource(src), err)
			}
			if _, err := flowmesh.ValidateTxn(txn); err != nil {
				return usagef("transaction %s: %v", txnSource(src), err)
			}
			var opts []flowmesh.CallOption
			if requestID != "" {
				opts = append(opts, flowmesh.WithRequestID(requestID))
			}
			var res *flowmesh.TxnResult
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				res, err = c.Txn(ctx, txn, opts...)
				return err
			}); err != nil {
				return err
			}
			return a.emitTxn(res)
		},
	}
	cmd.Flags().StringVar(&requestID, "request-id", "", "idempotency key: a repeat within the dedup window returns the first result")
	return cmd
}

func txnSource(src string) string {
	if src == "-" {
		return "from stdin"
	}
	return src
}

// parseTxn decodes the JSON form; every error names the item ("then[2]").
func parseTxn(raw []byte) (flowmesh.Txn, error) {
	var f txnFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return flowmesh.Txn{}, fmt.Errorf("not valid JSON: %v", err)
	}
	if dec.More() {
		return flowmesh.Txn{}, errors.New("more than one JSON value")
	}
	var t flowmesh.Txn
	for i, c := range f.Compare {
		tc, err := c.compare()
		if err != nil {
			return t, fmt.Errorf("compare[%d]: %v", i, err)
		}
		t.Compares = append(t.Compares, tc)
	}
	for _, b := range []struct {
		name string
		in   []txnOpJSON
		out  *[]flowmesh.TxnOp
	}{{"then", f.Then, &t.Then}, {"else", f.Else, &t.Else}} {
		for i, o := range b.in {
			op, err := o.op()
			if err != nil {
				return t, fmt.Errorf("%s[%d]: %v", b.name, i, err)
			}
			*b.out = append(*b.out, op)
		}
	}
	return t, nil
}

// bytesOf is a text or base64 field pair: at most one may be set.
func bytesOf(name string, text, b64 *string) ([]byte, error) {
	switch {
	case text != nil && b64 != nil:
		return nil, fmt.Errorf("give %s or %s_base64, not both", name, name)
	case b64 != nil:
		b, err := base64.StdEncoding.DecodeString(*b64)
		if err != nil {
			return nil, fmt.Errorf("%s_base64: %v", name, err)
		}
		return b, nil
	case text != nil:
		return []byte(*text), nil
	}
	return nil, nil
}

func durationOf(name, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %v", name, err)
	}
	return d, nil
}

func compareOpOf(s string) (flowmesh.CompareOp, error) {
	switch s {
	case "", "=", "==":
		return flowmesh.CompareEqual, nil
	case "!=":
		return flowmesh.CompareNotEqual, nil
	case "<":
		return flowmesh.CompareLess, nil
	case ">":
		return flowmesh.CompareGreater, nil
	}
	return 0, fmt.Errorf("op %q: want =, !=, < or >", s)
}

func need[T any](name, target string, v *T) (T, error) {
	if v == nil {
		var zero T
		return zero, fmt.Errorf("%s needs %q", target, name)
	}
	return *v, nil
}

func (c txnCompareJSON) compare() (flowmesh.TxnCompare, error) {
	op, err := compareOpOf(c.Op)
	if err != nil {
		return flowmesh.TxnCompare{}, err
	}
	switch c.Target {
	case "kv_revision":
		rev, err := need("revision", c.Target, c.Revision)
		return flowmesh.CompareRevision(c.Path, c.Key, op, rev), err
	case "kv_create_revision":
		rev, err := need("create_revision", c.Target, c.CreateRevision)
		return flowmesh.CompareCreateRevision(c.Path, c.Key, op, rev), err
	case "kv_value":
		if c.Value == nil && c.ValueBase64 == nil {
			return flowmesh.TxnCompare{}, errors.New(`kv_value needs "value" or "value_base64"`)
		}
		v, err := bytesOf("value", c.Value, c.ValueBase64)
		return flowmesh.CompareValue(c.Path, c.Key, op, v), err
	case "kv_exists":
		ex, err := need("exists", c.Target, c.Exists)
		cmp := flowmesh.CompareExists(c.Path, c.Key, ex)
		cmp.Op = op
		return cmp, err
	case "stream_next":
		next, err := need("next", c.Target, c.Next)
		return flowmesh.CompareNext(c.Path, c.Partition, op, next), err
	case "job_held":
		held, err := need("held", c.Target, c.Held)
		cmp := flowmesh.CompareHeld(c.Path, flowmesh.Receipt{JobID: c.JobID, Attempt: c.Attempt}, held)
		cmp.Op = op
		return cmp, err
	}
	return flowmesh.TxnCompare{}, fmt.Errorf("target %q: want kv_revision, kv_create_revision, kv_value, kv_exists, stream_next or job_held", c.Target)
}

func (o txnOpJSON) op() (flowmesh.TxnOp, error) {
	receipt := flowmesh.Receipt{JobID: o.JobID, Attempt: o.Attempt}
	switch o.Op {
	case "put":
		v, err := bytesOf("value", o.Value, o.ValueBase64)
		if err != nil {
			return flowmesh.TxnOp{}, err
		}
		ttl, err := durationOf("ttl", o.TTL)
		return flowmesh.OpPut(o.Path, o.Key, v, ttl), err
	case "delete":
		return flowmesh.OpDelete(o.Path, o.Key), nil
	case "append":
		var evs []flowmesh.StreamEvent
		for j, e := range o.Events {
			p, err := bytesOf("payload", e.Payload, e.PayloadBase64)
			if err != nil {
				return flowmesh.TxnOp{}, fmt.Errorf("events[%d]: %v", j, err)
			}
			evs = append(evs, flowmesh.StreamEvent{Payload: p, Key: e.Key, Partition: e.Partition, Headers: e.Headers})
		}
		return flowmesh.OpAppend(o.Path, evs...), nil
	case "enqueue":
		p, err := bytesOf("payload", o.Payload, o.PayloadBase64)
		if err != nil {
			return flowmesh.TxnOp{}, err
		}
		d, err := durationOf("delay", o.Delay)
		return flowmesh.OpEnqueue(o.Path, p, flowmesh.QueueEnqueueOptions{Delay: d, DedupID: o.DedupID}), err
	case "ack":
		return flowmesh.OpAck(o.Path, receipt), nil
	case "nack":
		d, err := durationOf("delay", o.Delay)
		return flowmesh.OpNack(o.Path, receipt, d), err
	case "get":
		return flowmesh.OpGet(o.Path, o.Key), nil
	case "range":
		return flowmesh.OpRange(o.Path, o.Prefix, o.After, o.Limit), nil
	}
	return flowmesh.TxnOp{}, fmt.Errorf("op %q: want put, delete, append, enqueue, ack, nack, get or range", o.Op)
}

func (a *app) emitTxn(res *flowmesh.TxnResult) error {
	out := txnResultJSON{Succeeded: res.Succeeded, Branch: "then", Revision: res.Revision, Results: []txnOpResJSON{}}
	if !res.Succeeded {
		out.Branch = "else"
	}
	for _, r := range res.Results {
		o := txnOpResJSON{Op: r.Type.String(), Revision: r.Revision, Positions: r.Positions, JobID: r.JobID, Seq: r.Seq, Truncated: r.Truncated}
		if r.Type == flowmesh.TxnGet {
			found := r.Found
			o.Found = &found
		}
		for _, e := range r.Entries {
			o.Entries = append(o.Entries, toKVEntry(e))
		}
		out.Results = append(out.Results, o)
	}
	return a.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "branch %s (compares held: %v), revision %d\n", out.Branch, res.Succeeded, res.Revision)
		if len(res.Results) == 0 {
			return
		}
		fmt.Fprintln(w, "#\tOP\tRESULT")
		for i, r := range res.Results {
			fmt.Fprintf(w, "%d\t%s\t%s\n", i, r.Type, txnOpSummary(r))
		}
	})
}

func txnOpSummary(r flowmesh.TxnOpResult) string {
	var parts []string
	switch r.Type {
	case flowmesh.TxnPut, flowmesh.TxnDelete:
		parts = append(parts, fmt.Sprintf("revision %d", r.Revision))
	case flowmesh.TxnAppend:
		for _, p := range r.Positions {
			parts = append(parts, fmt.Sprintf("%d@%d", p.Partition, p.Offset))
		}
	case flowmesh.TxnEnqueue:
		parts = append(parts, fmt.Sprintf("job %s seq %d", r.JobID, r.Seq))
	case flowmesh.TxnAck:
		parts = append(parts, "acked")
	case flowmesh.TxnNack:
		parts = append(parts, "released")
	case flowmesh.TxnGet:
		if !r.Found {
			parts = append(parts, "not found")
		}
	}
	for _, e := range r.Entries {
		parts = append(parts, fmt.Sprintf("%s=%q@%d", e.Key, e.Value, e.Revision))
	}
	if r.Truncated {
		parts = append(parts, "(truncated: read budget spent)")
	}
	return strings.Join(parts, " ")
}
