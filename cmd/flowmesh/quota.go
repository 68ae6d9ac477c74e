package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
)

func (a *app) quotaCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "quota", Short: "Per-tenant quotas: set limits (cluster-admin), show limits and use"}
	cmd.AddCommand(a.quotaSetCmd(), a.quotaGetCmd())
	return cmd
}

// quotaFlags are the quota fields in the order they are shown.
var quotaFlags = []struct{ flag, name, help string }{
	{"stored-bytes", flowmesh.QuotaStoredBytes, "bytes stored: stream events, queue job payloads, KV keys and values"},
	{"resources", flowmesh.QuotaResources, "streams, queues and KV stores"},
	{"partitions", flowmesh.QuotaPartitions, "stream partitions"},
	{"kv-keys", flowmesh.QuotaKVKeys, "KV keys"},
	{"queue-jobs", flowmesh.QuotaQueueJobs, "queue jobs (waiting, delayed, in flight, dead)"},
	{"memory-bytes", flowmesh.QuotaMemoryBytes, "memory-resident state of all tenants together (KV keys and values, job payloads, a fixed charge per item); cluster-wide: set on \"*\" only"},
}

func limitsField(l *flowmesh.QuotaLimits, name string) **int64 {
	switch name {
	case flowmesh.QuotaStoredBytes:
		return &l.StoredBytes
	case flowmesh.QuotaResources:
		return &l.Resources
	case flowmesh.QuotaPartitions:
		return &l.Partitions
	case flowmesh.QuotaKVKeys:
		return &l.KVKeys
	case flowmesh.QuotaMemoryBytes:
		return &l.MemoryBytes
	}
	return &l.QueueJobs
}

func valuesField(v flowmesh.QuotaValues, name string) int64 {
	switch name {
	case flowmesh.QuotaStoredBytes:
		return v.StoredBytes
	case flowmesh.QuotaResources:
		return v.Resources
	case flowmesh.QuotaPartitions:
		return v.Partitions
	case flowmesh.QuotaKVKeys:
		return v.KVKeys
	case flowmesh.QuotaMemoryBytes:
		return v.MemoryBytes
	}
	return v.QueueJobs
}

func (a *app) quotaSetCmd() *cobra.Command {
	vals := make([]int64, len(quotaFlags))
	var reset bool
	cmd := &cobra.Command{
		Use:   "set TENANT",
		Short: `Set a tenant's quota fields ("*" = the cluster default); 0 is unlimited; fields not given are kept`,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tenant := args[0]
			if tenant != flowmesh.DefaultQuotaTenant {
				if err := flowmesh.ValidateName("tenant", tenant); err != nil {
					return &exitError{code: exitUsage, err: err}
				}
			}
			var l flowmesh.QuotaLimits
			some := reset
			for i, f := range quotaFlags {
				if !cmd.Flags().Changed(f.flag) {
					continue
				}
				if vals[i] < 0 {
					return usagef("--%s %d: want 0 (unlimited) or a limit", f.flag, vals[i])
				}
				v := vals[i]
				*limitsField(&l, f.name) = &v
				some = true
			}
			if !some {
				return usagef("give at least one of --stored-bytes, --resources, --partitions, --kv-keys, --queue-jobs, --memory-bytes or --reset")
			}
			var q flowmesh.TenantQuota
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				q, err = c.SetQuota(ctx, tenant, l, reset)
				return err
			}); err != nil {
				return err
			}
			return a.emitQuota(q)
		},
	}
	for i, f := range quotaFlags {
		cmd.Flags().Int64Var(&vals[i], f.flag, 0, "limit of "+f.help+" (0: unlimited)")
	}
	cmd.Flags().BoolVar(&reset, "reset", false, "first clear the tenant's own fields (it then inherits the default's)")
	return cmd
}

func (a *app) quotaGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get TENANT",
		Short: `Show a tenant's quota limits and current use ("*" = the cluster default)`,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var q flowmesh.TenantQuota
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				q, err = c.Quota(ctx, args[0])
				return err
			}); err != nil {
				return err
			}
			return a.emitQuota(q)
		},
	}
}

// quotaRow is one quota of a tenant as shown.
type quotaRow struct {
	Quota  string `json:"quota"`
	Used   int64  `json:"used"`
	Limit  int64  `json:"limit"`  // 0 = unlimited
	Source string `json:"source"` // "tenant" (its own field), "default" (always for "*") or "cluster" (memory_bytes: all tenants together)
}

func (a *app) emitQuota(q flowmesh.TenantQuota) error {
	out := struct {
		Tenant string     `json:"tenant"`
		Quotas []quotaRow `json:"quotas"`
	}{Tenant: q.Tenant}
	for _, f := range quotaFlags {
		src := "default"
		switch {
		case f.name == flowmesh.QuotaMemoryBytes:
			src = "cluster"
		case q.Tenant != flowmesh.DefaultQuotaTenant && *limitsField(&q.Set, f.name) != nil:
			src = "tenant"
		}
		out.Quotas = append(out.Quotas, quotaRow{Quota: f.name, Used: valuesField(q.Usage, f.name), Limit: valuesField(q.Limits, f.name), Source: src})
	}
	return a.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "TENANT %s\n", q.Tenant)
		fmt.Fprintln(w, "QUOTA\tUSED\tLIMIT\tSOURCE")
		for _, r := range out.Quotas {
			limit := "unlimited"
			if r.Limit > 0 {
				limit = fmt.Sprint(r.Limit)
			}
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", r.Quota, r.Used, limit, r.Source)
		}
	})
}
