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

// job is a job in JSON output.
type job struct {
	ID           string `json:"id"`
	Seq          uint64 `json:"seq"`
	Attempt      int    `json:"attempt"`
	Payload      []byte `json:"payload"` // base64
	EnqueuedAt   string `json:"enqueued_at"`
	VisibleUntil string `json:"visible_until,omitempty"`
}

func toJob(j flowmesh.Job) job {
	return job{ID: j.ID, Seq: j.Seq, Attempt: j.Attempt, Payload: nonNil(j.Payload), EnqueuedAt: jsonTime(j.EnqueuedAt), VisibleUntil: jsonTime(j.VisibleUntil)}
}

func (a *app) queueCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "queue", Short: "Work queues: create, enqueue, reserve, ack, nack, touch, stats, dead, redrive, purge"}
	cmd.AddCommand(a.queueCreateCmd(), a.queueEnqueueCmd(), a.queueReserveCmd(), a.queueAckCmd(),
		a.queueNackCmd(), a.queueTouchCmd(), a.queueStatsCmd(), a.queueDeadCmd(), a.queueRedriveCmd(), a.queuePurgeCmd())
	return cmd
}

func (a *app) queueCreateCmd() *cobra.Command {
	var (
		visibility  time.Duration
		maxAttempts int
		dlq         string
	)
	cmd := &cobra.Command{
		Use:     "create PATH",
		Short:   "Create a work queue",
		Example: "  flowmesh queue create t1/ns1/jobs --visibility 1m --max-attempts 3 --dead-letter t1/ns1/dead",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			if dlq != "" {
				if _, err := path(dlq); err != nil {
					return err
				}
			}
			t, ns, n, _ := flowmesh.ParsePath(p)
			var opts []flowmesh.QueueOption
			if visibility > 0 {
				opts = append(opts, flowmesh.WithVisibilityTimeout(visibility))
			}
			if maxAttempts > 0 {
				opts = append(opts, flowmesh.WithMaxAttempts(maxAttempts))
			}
			if dlq != "" {
				opts = append(opts, flowmesh.WithDeadLetterQueue(dlq))
			}
			var r *flowmesh.Resource
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				r, err = c.CreateQueue(ctx, t, ns, n, 1, opts...)
				return err
			}); err != nil {
				return err
			}
			return a.emitResources([]*flowmesh.Resource{r}, false)
		},
	}
	cmd.Flags().DurationVar(&visibility, "visibility", 0, "default reservation length (0: the server's default)")
	cmd.Flags().IntVar(&maxAttempts, "max-attempts", 0, "reservations before a job is dead (0: the server's default)")
	cmd.Flags().StringVar(&dlq, "dead-letter", "", "path of a queue that receives dead jobs")
	return cmd
}

func (a *app) queueEnqueueCmd() *cobra.Command {
	var (
		file    string
		delay   time.Duration
		dedupID string
		in      payloadIn
	)
	cmd := &cobra.Command{
		Use:   "enqueue PATH [PAYLOAD|-] [PAYLOAD...]",
		Short: "Add a job (several payloads: one batch, up to 100)",
		Example: `  flowmesh queue enqueue t1/ns1/jobs '{"task":"resize"}'
  flowmesh queue enqueue t1/ns1/jobs --file job.json --delay 5m --dedup-id order-17
  flowmesh queue enqueue t1/ns1/jobs job-a job-b job-c   # one EnqueueBatch call
  flowmesh queue enqueue t1/ns1/jobs --base64 AP/+        # the bytes 00 ff fe`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			if len(args) > 2 {
				return a.enqueueBatch(cmd, p, args[1:], file, delay, dedupID, in)
			}
			payload, err := a.payload(argAt(args, 1), len(args) == 2, file)
			if err != nil {
				return err
			}
			if payload, err = in.decode(payload, "the payload"); err != nil {
				return err
			}
			var (
				id  string
				seq uint64
			)
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				id, seq, err = c.Enqueue(ctx, p, payload, flowmesh.QueueEnqueueOptions{Delay: delay, DedupID: dedupID})
				return err
			}); err != nil {
				return err
			}
			return a.emit(map[string]any{"id": id, "seq": seq}, func(w io.Writer) {
				fmt.Fprintf(w, "%s\n", id)
			})
		},
	}
	cmd.Flags().StringVar(&file, "file", "", `read the payload from a file ("-": stdin)`)
	cmd.Flags().DurationVar(&delay, "delay", 0, "make the job ready only after this delay (every job of a batch)")
	cmd.Flags().StringVar(&dedupID, "dedup-id", "", "idempotency key: a repeat returns the first job (one payload only)")
	in.flags(cmd)
	return cmd
}

// enqueueBatch enqueues several payloads given as arguments in one call.
func (a *app) enqueueBatch(cmd *cobra.Command, p string, payloads []string, file string, delay time.Duration, dedupID string, in payloadIn) error {
	switch {
	case file != "":
		return usagef("--file takes one payload; give several payloads as arguments only")
	case dedupID != "":
		return usagef("--dedup-id names one job; give one payload with it")
	case len(payloads) > flowmesh.MaxQueueBatch:
		return usagef("%d payloads: at most %d per call", len(payloads), flowmesh.MaxQueueBatch)
	}
	items := make([]flowmesh.EnqueueItem, len(payloads))
	for i, pl := range payloads {
		if pl == "-" {
			return usagef("stdin (\"-\") takes one payload; give several payloads as arguments only")
		}
		b, err := in.decode([]byte(pl), fmt.Sprintf("payload %d", i+1))
		if err != nil {
			return err
		}
		items[i] = flowmesh.EnqueueItem{Payload: b, QueueEnqueueOptions: flowmesh.QueueEnqueueOptions{Delay: delay}}
	}
	var res []flowmesh.EnqueuedJob
	if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
		res, err = c.EnqueueBatch(ctx, p, items)
		return err
	}); err != nil {
		return err
	}
	out := make([]map[string]any, len(res))
	for i, r := range res {
		out[i] = map[string]any{"id": r.JobID, "seq": r.Seq}
	}
	return a.emit(out, func(w io.Writer) {
		for _, r := range res {
			fmt.Fprintf(w, "%s\n", r.JobID)
		}
	})
}

func (a *app) queueReserveCmd() *cobra.Command {
	var (
		visibility, wait time.Duration
		max              int
		pout             payloadOut
	)
	cmd := &cobra.Command{
		Use:   "reserve PATH",
		Short: "Reserve the oldest ready job, or up to --max jobs (prints nothing when none is ready)",
		Example: `  flowmesh queue reserve t1/ns1/jobs --visibility 1m --wait 10s
  # then: flowmesh queue ack t1/ns1/jobs JOB_ID --attempt N
  flowmesh queue reserve t1/ns1/jobs --max 10   # one ReserveBatch call
  # then: flowmesh queue ack t1/ns1/jobs JOB_ID:ATTEMPT JOB_ID:ATTEMPT ...
  flowmesh queue reserve t1/ns1/jobs --raw > job.bin   # the payload's bytes only`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			if max < 1 || max > flowmesh.MaxQueueBatch {
				return usagef("--max %d is outside 1..%d", max, flowmesh.MaxQueueBatch)
			}
			if err := pout.check(a); err != nil {
				return err
			}
			if max > 1 {
				return a.reserveBatch(cmd, p, max, visibility, wait, pout)
			}
			var j *flowmesh.Job
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout+wait)
			defer cancel()
			if wait > 0 {
				j, err = c.ReserveWait(ctx, p, visibility, wait)
			} else {
				j, err = c.Reserve(ctx, p, visibility)
			}
			if err != nil {
				return failed(err)
			}
			if j == nil {
				if a.output == "json" {
					return a.emit(nil, nil)
				}
				fmt.Fprintln(a.stderr, "no job ready")
				return nil
			}
			if pout.raw {
				fmt.Fprintf(a.stderr, "reserved %s:%d\n", j.ID, j.Attempt)
				_, err := a.stdout.Write(j.Payload)
				return err
			}
			return a.emit(toJob(*j), func(w io.Writer) {
				fmt.Fprintln(w, "ID\tATTEMPT\tVISIBLE UNTIL\tPAYLOAD")
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", j.ID, j.Attempt, ts(j.VisibleUntil), pout.cell(j.Payload))
			})
		},
	}
	cmd.Flags().DurationVar(&visibility, "visibility", 0, "reservation length (0: the queue's default)")
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for a job to become ready")
	cmd.Flags().IntVar(&max, "max", 1, "reserve up to this many jobs in one call (1..100; above 1, JSON output is a list)")
	pout.flags(cmd, true)
	return cmd
}

// reserveBatch reserves up to max jobs in one call and prints them.
func (a *app) reserveBatch(cmd *cobra.Command, p string, max int, visibility, wait time.Duration, pout payloadOut) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout+wait)
	defer cancel()
	var js []flowmesh.Job
	if wait > 0 {
		js, err = c.ReserveBatchWait(ctx, p, max, visibility, wait)
	} else {
		js, err = c.ReserveBatch(ctx, p, max, visibility)
	}
	if err != nil {
		return failed(err)
	}
	if len(js) == 0 && a.output != "json" {
		fmt.Fprintln(a.stderr, "no job ready")
		return nil
	}
	if pout.raw {
		for _, j := range js {
			fmt.Fprintf(a.stderr, "reserved %s:%d\n", j.ID, j.Attempt)
			if _, err := a.stdout.Write(j.Payload); err != nil {
				return err
			}
		}
		return nil
	}
	out := make([]job, len(js))
	for i, j := range js {
		out[i] = toJob(j)
	}
	return a.emit(out, func(w io.Writer) {
		fmt.Fprintln(w, "ID\tATTEMPT\tVISIBLE UNTIL\tPAYLOAD")
		for _, j := range js {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", j.ID, j.Attempt, ts(j.VisibleUntil), pout.cell(j.Payload))
		}
	})
}

func (a *app) queueAckCmd() *cobra.Command {
	var attempt int
	cmd := &cobra.Command{
		Use:   "ack PATH JOB_ID | ack PATH JOB_ID:ATTEMPT...",
		Short: "Acknowledge reserved jobs (they are done and removed)",
		Long: `Acknowledge a reserved job. JOB_ID is the ID reserve printed, which names that
reservation (a redelivery prints JOB_ID:ATTEMPT); with --attempt the ack must match
that reservation. Either way a stale reservation is refused.

Receipts given as JOB_ID:ATTEMPT (one or more, up to 100) are acknowledged in
one AckBatch call; each is reported on its own, and the command fails (exit 1)
when any of them was refused.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			if len(args) > 2 || (attempt == 0 && strings.Contains(args[1], ":")) {
				if attempt != 0 {
					return usagef("--attempt is for one JOB_ID; give receipts as JOB_ID:ATTEMPT")
				}
				return a.ackBatch(cmd, p, args[1:])
			}
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) error {
				if attempt > 0 {
					return c.Ack(ctx, p, receiptArg(args[1], attempt))
				}
				return c.RemoveFromInFlight(ctx, p, args[1])
			}); err != nil {
				return err
			}
			return a.emit(map[string]any{"acked": args[1]}, func(w io.Writer) { fmt.Fprintf(w, "acked %s\n", args[1]) })
		},
	}
	cmd.Flags().IntVar(&attempt, "attempt", 0, "the reservation's attempt number, from reserve (0: the reservation JOB_ID names)")
	return cmd
}

// receiptArg is the receipt of a JOB_ID as reserve printed it (a
// redelivery's carries its attempt, flowmesh.ReservationID) with --attempt.
func receiptArg(id string, attempt int) flowmesh.Receipt {
	return flowmesh.Receipt{JobID: flowmesh.ParseReservationID(id).JobID, Attempt: attempt}
}

// ackBatch acknowledges JOB_ID:ATTEMPT receipts in one call.
func (a *app) ackBatch(cmd *cobra.Command, p string, args []string) error {
	if len(args) > flowmesh.MaxQueueBatch {
		return usagef("%d receipts: at most %d per call", len(args), flowmesh.MaxQueueBatch)
	}
	receipts := make([]flowmesh.Receipt, len(args))
	for i, arg := range args {
		id, at, ok := strings.Cut(arg, ":")
		n, err := strconv.Atoi(at)
		if !ok || id == "" || err != nil || n < 1 {
			return usagef("receipt %q: want JOB_ID:ATTEMPT with a positive attempt", arg)
		}
		receipts[i] = flowmesh.Receipt{JobID: id, Attempt: n}
	}
	var errs []error
	if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
		errs, err = c.AckBatch(ctx, p, receipts)
		return err
	}); err != nil {
		return err
	}
	type result struct {
		ID      string `json:"id"`
		Attempt int    `json:"attempt"`
		Acked   bool   `json:"acked"`
		Error   string `json:"error,omitempty"`
	}
	out := make([]result, len(receipts))
	var firstErr error
	for i, r := range receipts {
		out[i] = result{ID: r.JobID, Attempt: r.Attempt, Acked: errs[i] == nil}
		if errs[i] != nil {
			out[i].Error = errs[i].Error()
			if firstErr == nil {
				firstErr = fmt.Errorf("%d of %d receipts refused; first: %s:%d: %w", countErrs(errs), len(errs), r.JobID, r.Attempt, errs[i])
			}
		}
	}
	if err := a.emit(out, func(w io.Writer) {
		for _, r := range out {
			if r.Acked {
				fmt.Fprintf(w, "acked %s\n", r.ID)
			} else {
				fmt.Fprintf(w, "refused %s:%d: %s\n", r.ID, r.Attempt, r.Error)
			}
		}
	}); err != nil {
		return err
	}
	return failed(firstErr)
}

func countErrs(errs []error) int {
	n := 0
	for _, e := range errs {
		if e != nil {
			n++
		}
	}
	return n
}

func (a *app) queueNackCmd() *cobra.Command {
	var (
		attempt int
		delay   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "nack PATH JOB_ID --attempt N",
		Short: "Release a reserved job so it is ready again (after --delay)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			if attempt < 1 {
				return usagef("--attempt %d: give the reservation's attempt number (from reserve)", attempt)
			}
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) error {
				return c.Nack(ctx, p, receiptArg(args[1], attempt), delay)
			}); err != nil {
				return err
			}
			return a.emit(map[string]any{"nacked": args[1]}, func(w io.Writer) { fmt.Fprintf(w, "released %s\n", args[1]) })
		},
	}
	cmd.Flags().IntVar(&attempt, "attempt", 0, "the reservation's attempt number, from reserve")
	cmd.Flags().DurationVar(&delay, "delay", 0, "ready again after this delay")
	return cmd
}

// queueStats is queue stats in JSON output.
type queueStats struct {
	Ready          int    `json:"ready"`
	Delayed        int    `json:"delayed"`
	InFlight       int    `json:"in_flight"`
	Dead           int    `json:"dead"`
	OldestReadyAge string `json:"oldest_ready_age"` // a duration
}

func (a *app) queueStatsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "stats PATH",
		Short: "Count a queue's jobs by state",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			var st flowmesh.QueueStats
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				st, err = c.Stats(ctx, p, a.readOpts()...)
				return err
			}); err != nil {
				return err
			}
			v := queueStats{Ready: st.Ready, Delayed: st.Delayed, InFlight: st.InFlight, Dead: st.Dead,
				OldestReadyAge: jsonDuration(st.OldestReadyAge)}
			return a.emit(v, func(w io.Writer) {
				fmt.Fprintln(w, "READY\tDELAYED\tIN FLIGHT\tDEAD\tOLDEST READY")
				fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%v\n", st.Ready, st.Delayed, st.InFlight, st.Dead, st.OldestReadyAge.Round(time.Millisecond))
			})
		},
	}
}

func (a *app) queueDeadCmd() *cobra.Command {
	var (
		limit int
		pout  payloadOut
	)
	cmd := &cobra.Command{
		Use:   "dead PATH",
		Short: "List dead jobs (those that failed too often)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			if limit <= 0 {
				return usagef("--limit %d must be positive", limit)
			}
			var js []flowmesh.Job
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				js, err = c.ListDead(ctx, p, limit, a.readOpts()...)
				return err
			}); err != nil {
				return err
			}
			out := make([]job, len(js))
			for i, j := range js {
				out[i] = toJob(j)
			}
			return a.emit(out, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tATTEMPTS\tENQUEUED\tPAYLOAD")
				for _, j := range js {
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", j.ID, j.Attempt, ts(j.EnqueuedAt), pout.cell(j.Payload))
				}
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "most jobs to list")
	pout.flags(cmd, false)
	return cmd
}
