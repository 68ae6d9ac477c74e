package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
)

// partitionRow is one partition in `stream info` and `stream offset`.
type partitionRow struct {
	Partition int     `json:"partition"`
	Earliest  uint64  `json:"earliest"`
	Next      uint64  `json:"next"`
	Bytes     int64   `json:"bytes"`
	Committed *uint64 `json:"committed,omitempty"` // the group's; absent when it has none
	Lag       *uint64 `json:"lag,omitempty"`       // events from the committed offset (or the earliest) to next
}

// partitions reads every partition's range and, with a group, its
// committed offset and lag.
func (a *app) partitions(ctx context.Context, c *client.Client, p, group string, only int) ([]partitionRow, error) {
	r, err := c.GetResource(ctx, p)
	if err != nil {
		return nil, err
	}
	if r.Kind != flowmesh.KindStream || r.Stream == nil {
		return nil, fmt.Errorf("%s is a %s, not a stream: %w", p, r.Kind, flowmesh.ErrWrongKind)
	}
	if only >= r.Stream.Partitions {
		return nil, flowmesh.Invalid("partition", "%d: %s has partitions 0..%d", only, p, r.Stream.Partitions-1)
	}
	var rows []partitionRow
	for i := range r.Stream.Partitions {
		if only >= 0 && i != only {
			continue
		}
		pi, err := c.PartitionInfo(ctx, p, i, a.readOpts()...)
		if err != nil {
			return nil, err
		}
		row := partitionRow{Partition: i, Earliest: pi.Earliest, Next: pi.Next, Bytes: pi.Bytes}
		if group != "" {
			off, err := c.FetchOffset(ctx, p, group, i, a.readOpts()...)
			switch {
			case errors.Is(err, flowmesh.ErrNotFound):
				lag := pi.Lag(0)
				row.Lag = &lag
			case err != nil:
				return nil, err
			default:
				lag := pi.Lag(off)
				row.Committed, row.Lag = &off, &lag
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (a *app) emitPartitions(rows []partitionRow, group string) error {
	return a.emit(rows, func(w io.Writer) {
		if group == "" {
			fmt.Fprintln(w, "PARTITION\tEARLIEST\tNEXT\tBYTES")
		} else {
			fmt.Fprintln(w, "PARTITION\tEARLIEST\tNEXT\tBYTES\tCOMMITTED\tLAG")
		}
		for _, r := range rows {
			if group == "" {
				fmt.Fprintf(w, "%d\t%d\t%d\t%d\n", r.Partition, r.Earliest, r.Next, r.Bytes)
				continue
			}
			committed := "-"
			if r.Committed != nil {
				committed = strconv.FormatUint(*r.Committed, 10)
			}
			fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%s\t%d\n", r.Partition, r.Earliest, r.Next, r.Bytes, committed, *r.Lag)
		}
	})
}

func (a *app) streamInfoCmd() *cobra.Command {
	var (
		group     string
		partition int
	)
	cmd := &cobra.Command{
		Use:   "info PATH",
		Short: "Show each partition's retained range and size (and a consumer group's offsets and lag)",
		Example: "  flowmesh stream info t1/ns1/events\n" +
			"  flowmesh stream info t1/ns1/events --group billing -o json",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			if partition < -1 {
				return usagef("--partition %d: want a partition number (default: all)", partition)
			}
			var rows []partitionRow
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				rows, err = a.partitions(ctx, c, p, group, partition)
				return err
			}); err != nil {
				return err
			}
			return a.emitPartitions(rows, group)
		},
	}
	cmd.Flags().StringVar(&group, "group", "", "consumer group: also show its committed offsets and lag")
	cmd.Flags().IntVar(&partition, "partition", -1, "only this partition")
	return cmd
}

func (a *app) streamCommitCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "commit PATH GROUP PARTITION OFFSET",
		Short:   "Record a consumer group's next offset for a partition",
		Example: "  flowmesh stream commit t1/ns1/events billing 0 1200",
		Args:    cobra.ExactArgs(4),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			if args[1] == "" {
				return usagef("GROUP is empty")
			}
			part, err := strconv.Atoi(args[2])
			if err != nil || part < 0 {
				return usagef("PARTITION %q: want a partition number", args[2])
			}
			off, err := strconv.ParseUint(args[3], 10, 64)
			if err != nil {
				return usagef("OFFSET %q: want a non-negative integer", args[3])
			}
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) error {
				return c.CommitOffset(ctx, p, args[1], part, off)
			}); err != nil {
				return err
			}
			return a.emit(map[string]any{"group": args[1], "partition": part, "committed": off}, func(w io.Writer) {
				fmt.Fprintf(w, "group %s partition %d: committed %d\n", args[1], part, off)
			})
		},
	}
}
