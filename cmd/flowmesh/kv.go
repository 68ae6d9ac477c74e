package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
)

// kvEntry is a KV entry in JSON output.
type kvEntry struct {
	Key            string `json:"key"`
	Value          []byte `json:"value"` // base64`
	Revision       uint64 `json:"revision"`
	CreateRevision uint64 `json:"create_revision"`
	ExpiresAt      string `json:"expires_at,omitempty"`
}

// kvEvent is a KV change in JSON output (kv watch).
type kvEvent struct {
	Type     string  `json:"type"`
	Key      string  `json:"key"`
	Value    *[]byte `json:"value,omitempty"` // base64; absent for deletes and expiries, "" for an empty put
	Revision uint64  `json:"revision"`
}

func toKVEntry(e flowmesh.KVEntry) kvEntry {
	return kvEntry{Key: e.Key, Value: nonNil(e.Value), Revision: e.Revision, CreateRevision: e.CreateRevision, ExpiresAt: jsonTime(e.ExpiresAt)}
}

func (a *app) kvCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "kv", Short: "KV stores: create, put, get, del, list, watch"}
	cmd.AddCommand(a.kvCreateCmd(), a.kvPutCmd(), a.kvGetCmd(), a.kvDelCmd(), a.kvListCmd(), a.kvWatchCmd())
	return cmd
}

func (a *app) kvCreateCmd() *cobra.Command {
	var history int
	cmd := &cobra.Command{
		Use:     "create PATH",
		Short:   "Create a KV store",
		Example: "  flowmesh kv create t1/ns1/cfg",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			t, ns, n, _ := flowmesh.ParsePath(p)
			var opts []flowmesh.KVOption
			if history > 0 {
				opts = append(opts, flowmesh.WithHistory(history))
			}
			var r *flowmesh.Resource
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				r, err = c.CreateKVStore(ctx, t, ns, n, opts...)
				return err
			}); err != nil {
				return err
			}
			return a.emitResources([]*flowmesh.Resource{r}, false)
		},
	}
	cmd.Flags().IntVar(&history, "history", 0, "revisions kept for watch (0: the server's default)")
	return cmd
}

func (a *app) kvPutCmd() *cobra.Command {
	var (
		file  string
		ttl   time.Duration
		ifRev int64
		in    payloadIn
	)
	cmd := &cobra.Command{
		Use:   "put PATH KEY [VALUE|-]",
		Short: "Set a key's value",
		Example: `  flowmesh kv put t1/ns1/cfg greeting hello
  echo hello | flowmesh kv put t1/ns1/cfg greeting -
  flowmesh kv put t1/ns1/cfg cert --file cert.pem --ttl 24h
  flowmesh kv put t1/ns1/cfg greeting hi --if-revision 7   # compare-and-swap
  flowmesh kv put t1/ns1/cfg blob --base64 AP/+                # the bytes 00 ff fe`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			val, err := a.payload(argAt(args, 2), len(args) == 3, file)
			if err != nil {
				return err
			}
			if val, err = in.decode(val, "the value"); err != nil {
				return err
			}
			opts := flowmesh.KVPutOptions{TTL: ttl}
			if ifRev >= 0 {
				opts.IfRevision = flowmesh.Rev(uint64(ifRev))
			}
			var rev uint64
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				rev, err = c.Put(ctx, p, args[1], val, opts)
				return err
			}); err != nil {
				return err
			}
			return a.emit(map[string]any{"key": args[1], "revision": rev}, func(w io.Writer) {
				fmt.Fprintf(w, "revision %d\n", rev)
			})
		},
	}
	cmd.Flags().StringVar(&file, "file", "", `read the value from a file ("-": stdin)`)
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "expire the key after this duration (e.g. 30s)")
	cmd.Flags().Int64Var(&ifRev, "if-revision", -1, "put only if the key is at this revision (0: only if absent)")
	in.flags(cmd)
	return cmd
}

func (a *app) kvGetCmd() *cobra.Command {
	var out payloadOut
	cmd := &cobra.Command{
		Use:   "get PATH KEY",
		Short: "Get a key's value (text and a newline; --raw: the bytes exactly)",
		Example: `  flowmesh kv get t1/ns1/cfg greeting
  flowmesh kv get t1/ns1/cfg blob --raw > blob.bin
  flowmesh kv get t1/ns1/cfg blob -o json   # value in base64`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			if err := out.check(a); err != nil {
				return err
			}
			var e flowmesh.KVEntry
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				e, err = c.Get(ctx, p, args[1], a.readOpts()...)
				return err
			}); err != nil {
				return err
			}
			if out.raw {
				_, err := a.stdout.Write(e.Value)
				return err
			}
			if out.b64 {
				return a.emit(toKVEntry(e), func(w io.Writer) { fmt.Fprintln(w, out.cell(e.Value)) })
			}
			return a.emit(toKVEntry(e), func(w io.Writer) {
				fmt.Fprintf(w, "%s\n", e.Value)
			})
		},
	}
	out.flags(cmd, true)
	return cmd
}

func (a *app) kvDelCmd() *cobra.Command {
	var ifRev int64
	cmd := &cobra.Command{
		Use:     "del PATH KEY",
		Aliases: []string{"delete"},
		Short:   "Delete a key",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			var opts flowmesh.KVDeleteOptions
			if ifRev >= 0 {
				opts.IfRevision = flowmesh.Rev(uint64(ifRev))
			}
			var rev uint64
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				rev, err = c.Delete(ctx, p, args[1], opts)
				return err
			}); err != nil {
				return err
			}
			return a.emit(map[string]any{"key": args[1], "revision": rev}, func(w io.Writer) {
				fmt.Fprintf(w, "deleted at revision %d\n", rev)
			})
		},
	}
	cmd.Flags().Int64Var(&ifRev, "if-revision", -1, "delete only if the key is at this revision")
	return cmd
}

func (a *app) kvListCmd() *cobra.Command {
	var (
		after string
		limit int
		pout  payloadOut
	)
	cmd := &cobra.Command{
		Use:   "list PATH [PREFIX]",
		Short: "List keys with a prefix, in key order",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			if limit <= 0 || limit > flowmesh.MaxListEntries {
				return usagef("--limit %d: want 1..%d", limit, flowmesh.MaxListEntries)
			}
			var es []flowmesh.KVEntry
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				es, err = c.List(ctx, p, argAt(args, 1), after, limit, a.readOpts()...)
				return err
			}); err != nil {
				return err
			}
			out := make([]kvEntry, len(es))
			for i, e := range es {
				out[i] = toKVEntry(e)
			}
			return a.emit(out, func(w io.Writer) {
				fmt.Fprintln(w, "KEY\tREVISION\tVALUE")
				for _, e := range es {
					fmt.Fprintf(w, "%s\t%d\t%s\n", e.Key, e.Revision, pout.cell(e.Value))
				}
			})
		},
	}
	cmd.Flags().StringVar(&after, "after", "", "list keys after this one (for paging)")
	cmd.Flags().IntVar(&limit, "limit", 1000, "most entries to list")
	pout.flags(cmd, false)
	return cmd
}

func (a *app) kvWatchCmd() *cobra.Command {
	var (
		from uint64
		max  int
		pout payloadOut
	)
	cmd := &cobra.Command{
		Use:   "watch PATH [PREFIX]",
		Short: "Print changes under a prefix as they happen (until Ctrl-C or --max)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			n := 0
			err = c.Watch(ctx, p, argAt(args, 1), from, func(ev flowmesh.KVEvent) error {
				v := kvEvent{Type: ev.Type.String(), Key: ev.Key, Revision: ev.Revision}
				if ev.Type == flowmesh.KVEventPut {
					val := nonNil(ev.Value)
					v.Value = &val
				}
				if err := a.emitLine(v, fmt.Sprintf("%d\t%s\t%s\t%s", ev.Revision, ev.Type, ev.Key, pout.cell(ev.Value))); err != nil {
					return err
				}
				if n++; max > 0 && n >= max {
					return errEnough
				}
				return nil
			})
			return endOfStream(ctx, err)
		},
	}
	cmd.Flags().Uint64Var(&from, "from-revision", 0, "first revision to print (0: changes from now on)")
	cmd.Flags().IntVar(&max, "max", 0, "stop after this many changes (0: until interrupted)")
	pout.flags(cmd, false)
	return cmd
}

// errEnough ends a tail or watch that reached --max.
var errEnough = errors.New("enough")

// endOfStream turns the end of a tail or watch into the command's result:
// an interrupt (ctx done) or reaching --max is success.
func endOfStream(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, errEnough) || ctx.Err() != nil {
		return nil
	}
	return failed(err)
}

func argAt(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}
