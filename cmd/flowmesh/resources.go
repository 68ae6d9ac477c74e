package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
)

// resource is a resource in JSON output.
type resource struct {
	Path      string        `json:"path"`
	Kind      string        `json:"kind"`
	CreatedAt string        `json:"created_at"`
	Revision  uint64        `json:"revision"`
	Stream    *streamConfig `json:"stream,omitempty"`
	Queue     *queueConfig  `json:"queue,omitempty"`
	KV        *kvConfig     `json:"kv,omitempty"`
}

type streamConfig struct {
	Partitions int    `json:"partitions"`
	MaxAge     string `json:"max_age"`   // a duration; "0s": unlimited
	MaxBytes   int64  `json:"max_bytes"` // per partition; 0: unlimited
}

type queueConfig struct {
	VisibilityTimeout string `json:"visibility_timeout"` // a duration
	MaxAttempts       int    `json:"max_attempts"`
	DeadLetterQueue   string `json:"dead_letter_queue,omitempty"`
	MaxPayload        int    `json:"max_payload"`
}

type kvConfig struct {
	HistoryRevisions int `json:"history_revisions"`
}

func toResource(r *flowmesh.Resource) resource {
	out := resource{Path: r.GetPath(), Kind: r.Kind.String(), CreatedAt: jsonTime(r.CreatedAt), Revision: r.Revision}
	if c := r.Stream; c != nil {
		out.Stream = &streamConfig{Partitions: c.Partitions, MaxAge: jsonDuration(c.MaxAge), MaxBytes: c.MaxBytes}
	}
	if c := r.Queue; c != nil {
		out.Queue = &queueConfig{VisibilityTimeout: jsonDuration(c.VisibilityTimeout), MaxAttempts: c.MaxAttempts,
			DeadLetterQueue: c.DeadLetterQueue, MaxPayload: c.MaxPayload}
	}
	if c := r.KV; c != nil {
		out.KV = &kvConfig{HistoryRevisions: c.HistoryRevisions}
	}
	return out
}

// emitResources prints resources; one resource is a JSON object, a list
// (even of one) a JSON array.
func (a *app) emitResources(rs []*flowmesh.Resource, list bool) error {
	out := make([]resource, 0, len(rs))
	for _, r := range rs {
		out = append(out, toResource(r))
	}
	var v any = out
	if !list && len(out) == 1 {
		v = out[0]
	}
	return a.emit(v, func(w io.Writer) {
		fmt.Fprintln(w, "PATH\tKIND\tCREATED\tDETAILS")
		for _, r := range rs {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.GetPath(), r.Kind, r.CreatedAt.UTC().Format(time.RFC3339), details(r))
		}
	})
}

func details(r *flowmesh.Resource) string {
	switch {
	case r.Stream != nil:
		return fmt.Sprintf("partitions=%d max_age=%v max_bytes=%d", r.Stream.Partitions, r.Stream.MaxAge, r.Stream.MaxBytes)
	case r.Queue != nil:
		s := fmt.Sprintf("visibility=%v max_attempts=%d", r.Queue.VisibilityTimeout, r.Queue.MaxAttempts)
		if r.Queue.DeadLetterQueue != "" {
			s += " dead_letter=" + r.Queue.DeadLetterQueue
		}
		return s
	case r.KV != nil:
		return fmt.Sprintf("history=%d", r.KV.HistoryRevisions)
	}
	return ""
}

func (a *app) resourcesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "resources", Aliases: []string{"resource"}, Short: "List, show and delete resources of any kind"}
	cmd.AddCommand(&cobra.Command{
		Use:     "list TENANT [NAMESPACE]",
		Short:   "List a tenant's resources (all namespaces unless one is given)",
		Example: "  flowmesh resources list t1\n  flowmesh resources list t1 ns1 -o json",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := flowmesh.ValidateName("tenant", args[0]); err != nil {
				return usagef("%v", err)
			}
			ns := argAt(args, 1)
			if ns != "" {
				if err := flowmesh.ValidateName("namespace", ns); err != nil {
					return usagef("%v", err)
				}
			}
			var rs []*flowmesh.Resource
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				rs, err = c.ListResources(ctx, args[0], ns)
				return err
			}); err != nil {
				return err
			}
			return a.emitResources(rs, true)
		},
	}, &cobra.Command{
		Use:   "get PATH",
		Short: "Show a resource",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			var r *flowmesh.Resource
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				r, err = c.GetResource(ctx, p)
				return err
			}); err != nil {
				return err
			}
			return a.emitResources([]*flowmesh.Resource{r}, false)
		},
	}, a.resourcesDeleteCmd())
	return cmd
}

func (a *app) resourcesDeleteCmd() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete PATH",
		Short: "Delete a resource and its data",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			if err := a.confirm(yes, "delete removes "+p+" and all its data"); err != nil {
				return err
			}
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) error {
				return c.DeleteResource(ctx, p)
			}); err != nil {
				return err
			}
			return a.emit(map[string]any{"deleted": p}, func(w io.Writer) { fmt.Fprintf(w, "deleted %s\n", p) })
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask")
	return cmd
}
