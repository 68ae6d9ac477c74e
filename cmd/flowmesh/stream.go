package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
)

// message is a stream message in JSON output.
type message struct {
	Partition int               `json:"partition"`
	Offset    uint64            `json:"offset"`
	Timestamp string            `json:"timestamp"`
	Key       string            `json:"key,omitempty"`
	Payload   []byte            `json:"payload"` // base64
	Headers   map[string]string `json:"headers,omitempty"`
}

func toMessage(m flowmesh.Message) message {
	return message{Partition: m.Partition, Offset: m.Offset, Timestamp: jsonTime(m.Timestamp), Key: m.Key, Payload: nonNil(m.Payload), Headers: m.Headers}
}

func (a *app) streamCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "stream", Short: "Streams: create, write, read, tail, info, consumer-group commit"}
	cmd.AddCommand(a.streamCreateCmd(), a.streamWriteCmd(), a.streamReadCmd(), a.streamTailCmd(), a.streamInfoCmd(), a.streamCommitCmd())
	return cmd
}

func (a *app) streamCreateCmd() *cobra.Command {
	var (
		partitions int
		maxAge     time.Duration
		maxBytes   int64
	)
	cmd := &cobra.Command{
		Use:     "create PATH",
		Short:   "Create a stream",
		Example: "  flowmesh stream create t1/ns1/events --partitions 4 --max-age 168h",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			if partitions < 1 || partitions > flowmesh.MaxPartitions {
				return usagef("--partitions %d: want 1..%d", partitions, flowmesh.MaxPartitions)
			}
			t, ns, n, _ := flowmesh.ParsePath(p)
			var r *flowmesh.Resource
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				r, err = c.CreateStream(ctx, t, ns, n, partitions, flowmesh.WithRetention(maxAge, maxBytes))
				return err
			}); err != nil {
				return err
			}
			return a.emitResources([]*flowmesh.Resource{r}, false)
		},
	}
	cmd.Flags().IntVar(&partitions, "partitions", 1, "number of partitions")
	cmd.Flags().DurationVar(&maxAge, "max-age", 0, "retention by age (0: unlimited)")
	cmd.Flags().Int64Var(&maxBytes, "max-bytes", 0, "retention by bytes per partition (0: unlimited)")
	return cmd
}

func (a *app) streamWriteCmd() *cobra.Command {
	var (
		file    string
		key     string
		part    int
		headers []string
		lines   bool
		in      payloadIn
	)
	cmd := &cobra.Command{
		Use:   "write PATH [PAYLOAD|-]...",
		Short: "Append events: one per argument, or one from --file/stdin (--lines: one per line)",
		Example: `  flowmesh stream write t1/ns1/events hello world      # two events
  flowmesh stream write t1/ns1/events --file event.json
  seq 1 100 | flowmesh stream write t1/ns1/events - --lines --key k1 --header source=seq
  flowmesh stream write t1/ns1/events --base64 AP/+ --file blob.b64`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			hdr := map[string]string{}
			for _, h := range headers {
				k, v, ok := strings.Cut(h, "=")
				if !ok || k == "" {
					return usagef("--header %q: want key=value", h)
				}
				hdr[k] = v
			}
			if len(hdr) == 0 {
				hdr = nil
			}
			var payloads [][]byte
			switch rest := args[1:]; {
			case file != "" || (len(rest) == 1 && rest[0] == "-"):
				b, err := a.payload(argAt(rest, 0), len(rest) == 1, file)
				if err != nil {
					return err
				}
				if lines {
					payloads = splitLines(b)
				} else {
					payloads = [][]byte{b}
				}
			case len(rest) > 0:
				for _, s := range rest {
					payloads = append(payloads, []byte(s))
				}
			default:
				return usagef("no events: give payloads as arguments, with --file, or \"-\" for stdin")
			}
			if len(payloads) == 0 {
				return usagef("no events in the input")
			}
			for i := range payloads {
				if payloads[i], err = in.decode(payloads[i], fmt.Sprintf("event %d", i+1)); err != nil {
					return err
				}
			}
			evs := make([]flowmesh.StreamEvent, len(payloads))
			for i, b := range payloads {
				evs[i] = flowmesh.StreamEvent{Key: key, Partition: part, Payload: b, Headers: hdr}
			}
			var pos []flowmesh.Position
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) error {
				for len(evs) > 0 {
					n := batchLen(evs)
					got, err := c.WriteEvents(ctx, p, evs[:n])
					if err != nil {
						return err
					}
					pos, evs = append(pos, got...), evs[n:]
				}
				return nil
			}); err != nil {
				return err
			}
			type position struct {
				Partition int    `json:"partition"`
				Offset    uint64 `json:"offset"`
			}
			out := make([]position, len(pos))
			for i, q := range pos {
				out[i] = position{q.Partition, q.Offset}
			}
			return a.emit(out, func(w io.Writer) {
				fmt.Fprintln(w, "PARTITION\tOFFSET")
				for _, q := range pos {
					fmt.Fprintf(w, "%d\t%d\n", q.Partition, q.Offset)
				}
			})
		},
	}
	cmd.Flags().StringVar(&file, "file", "", `read the payload from a file ("-": stdin)`)
	cmd.Flags().StringVar(&key, "key", "", "event key (routes the event to a partition by hash)")
	cmd.Flags().IntVar(&part, "partition", 0, "partition of events without a key")
	cmd.Flags().StringArrayVar(&headers, "header", nil, "event header key=value (repeatable)")
	cmd.Flags().BoolVar(&lines, "lines", false, "with --file or stdin: one event per line")
	in.flags(cmd)
	return cmd
}

// batchLen is how many of evs fit in one WriteEvents call.
func batchLen(evs []flowmesh.StreamEvent) int {
	size := 0
	for i, e := range evs {
		n := len(e.Payload) + len(e.Key)
		for k, v := range e.Headers {
			n += len(k) + len(v)
		}
		if i == flowmesh.MaxBatchEvents || (i > 0 && size+n > flowmesh.MaxBatchBytes) {
			return i
		}
		size += n
	}
	return len(evs)
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, flowmesh.MaxPayloadSize+1)
	for sc.Scan() {
		if len(sc.Bytes()) > 0 {
			out = append(out, bytes.Clone(sc.Bytes()))
		}
	}
	return out
}

func (a *app) streamReadCmd() *cobra.Command {
	var (
		partition int
		offset    uint64
		max       int
		pout      payloadOut
	)
	cmd := &cobra.Command{
		Use:   "read PATH",
		Short: "Read events of a partition from an offset",
		Example: `  flowmesh stream read t1/ns1/events --offset 0 --max 10
  flowmesh stream read t1/ns1/events --offset 7 --max 1 --raw > event.bin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			if err := pout.check(a); err != nil {
				return err
			}
			if max <= 0 || max > flowmesh.MaxReadMessages {
				return usagef("--max %d: want 1..%d", max, flowmesh.MaxReadMessages)
			}
			var ms []flowmesh.Message
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				ms, err = c.ReadFromOffset(ctx, p, partition, offset, max, a.readOpts()...)
				return err
			}); err != nil {
				return err
			}
			if pout.raw {
				for _, m := range ms {
					if _, err := a.stdout.Write(m.Payload); err != nil {
						return err
					}
				}
				return nil
			}
			out := make([]message, len(ms))
			for i, m := range ms {
				out[i] = toMessage(m)
			}
			return a.emit(out, func(w io.Writer) {
				fmt.Fprintln(w, "OFFSET\tTIMESTAMP\tKEY\tPAYLOAD")
				for _, m := range ms {
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", m.Offset, ts(m.Timestamp), m.Key, pout.cell(m.Payload))
				}
			})
		},
	}
	cmd.Flags().IntVar(&partition, "partition", 0, "partition to read")
	cmd.Flags().Uint64Var(&offset, "offset", 0, "first offset")
	cmd.Flags().IntVar(&max, "max", 100, "most events to read")
	pout.flags(cmd, true)
	return cmd
}

func (a *app) streamTailCmd() *cobra.Command {
	var (
		partition int
		offset    int64
		max       int
		pout      payloadOut
	)
	cmd := &cobra.Command{
		Use:   "tail PATH",
		Short: "Print events of a partition as they are written (until Ctrl-C or --max)",
		Example: `  flowmesh stream tail t1/ns1/events               # new events only
  flowmesh stream tail t1/ns1/events --offset 0 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			if err := pout.check(a); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			from := uint64(offset)
			if offset < 0 {
				if err := a.call(cmd, func(ctx context.Context, c *client.Client) error {
					info, err := c.PartitionInfo(ctx, p, partition)
					from = info.Next
					return err
				}); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			n := 0
			err = c.Subscribe(ctx, p, partition, from, func(m flowmesh.Message) error {
				var err error
				if pout.raw {
					_, err = a.stdout.Write(m.Payload)
				} else {
					err = a.emitLine(toMessage(m), fmt.Sprintf("%d\t%s\t%s", m.Offset, m.Key, pout.cell(m.Payload)))
				}
				if err != nil {
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
	cmd.Flags().IntVar(&partition, "partition", 0, "partition to tail")
	cmd.Flags().Int64Var(&offset, "offset", -1, "first offset (-1: the end, new events only)")
	cmd.Flags().IntVar(&max, "max", 0, "stop after this many events (0: until interrupted)")
	pout.flags(cmd, true)
	return cmd
}
