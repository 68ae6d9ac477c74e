package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
)

func (a *app) queueTouchCmd() *cobra.Command {
	var visibility time.Duration
	cmd := &cobra.Command{
		Use:     "touch PATH JOB_ID:ATTEMPT",
		Short:   "Extend a reservation: the job stays invisible for --visibility from now",
		Example: "  flowmesh queue touch t1/ns1/jobs 12.0:1 --visibility 2m",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			id, at, ok := strings.Cut(args[1], ":")
			n, err := strconv.Atoi(at)
			if !ok || id == "" || err != nil || n < 1 {
				return usagef("receipt %q: want JOB_ID:ATTEMPT with a positive attempt (reserve prints both)", args[1])
			}
			if visibility <= 0 || visibility > flowmesh.MaxVisibility {
				return usagef("--visibility %v: want more than 0 and at most %v", visibility, flowmesh.MaxVisibility)
			}
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) error {
				return c.Touch(ctx, p, flowmesh.Receipt{JobID: id, Attempt: n}, visibility)
			}); err != nil {
				return err
			}
			return a.emit(map[string]any{"touched": id, "attempt": n, "visibility": jsonDuration(visibility)}, func(w io.Writer) {
				fmt.Fprintf(w, "touched %s: invisible for %v\n", id, visibility)
			})
		},
	}
	cmd.Flags().DurationVar(&visibility, "visibility", 30*time.Second, "how long from now the job stays reserved")
	return cmd
}

func (a *app) queuePurgeCmd() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:     "purge PATH",
		Short:   "Remove every job that is not in flight (ready, delayed and dead)",
		Example: "  flowmesh queue purge t1/ns1/jobs --yes",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			if err := a.confirm(yes, "purge removes every job of "+p+" that is not in flight"); err != nil {
				return err
			}
			var n int
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				n, err = c.Purge(ctx, p)
				return err
			}); err != nil {
				return err
			}
			return a.emit(map[string]any{"purged": n}, func(w io.Writer) { fmt.Fprintf(w, "purged %d jobs\n", n) })
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask")
	return cmd
}

func (a *app) queueRedriveCmd() *cobra.Command {
	var maxJobs int
	cmd := &cobra.Command{
		Use:     "redrive PATH",
		Short:   "Make dead jobs ready again (up to --max; default all)",
		Example: "  flowmesh queue redrive t1/ns1/jobs --max 100",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			if maxJobs < 0 {
				return usagef("--max %d: want 0 (all) or more", maxJobs)
			}
			var n int
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				n, err = c.Redrive(ctx, p, maxJobs)
				return err
			}); err != nil {
				return err
			}
			return a.emit(map[string]any{"redriven": n}, func(w io.Writer) { fmt.Fprintf(w, "redrove %d dead jobs\n", n) })
		},
	}
	cmd.Flags().IntVar(&maxJobs, "max", 0, "at most this many dead jobs (0: all)")
	return cmd
}
