package main

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowmesh/flowmesh"
)

// Shell completion of resource paths asks the cluster: after "TENANT" or
// "TENANT/" it offers the tenant's namespaces (TENANT/NS/), after
// "TENANT/NS/" the names there of the command's kind (kv commands: KV
// stores, ...). The API cannot list tenants, so the tenant is typed in
// full. "kv get/del PATH KEY" completes keys. Paths never complete as file
// names. Each completion call waits at most completionTimeout.
const completionTimeout = 3 * time.Second

// completions sets the completion functions of the command tree: PATH
// arguments, keys, tenants' namespaces, --dead-letter; commands without
// arguments offer nothing (not file names).
func (a *app) completions(root *cobra.Command, getenv func(string) string) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c.ValidArgsFunction != nil || !c.Runnable() {
			return
		}
		args := strings.Fields(c.Use)[1:]
		switch {
		case len(args) > 0 && args[0] == "PATH":
			parent := c.Parent().Name()
			keys := parent == "kv" && (c.Name() == "get" || c.Name() == "del")
			c.ValidArgsFunction = a.completePath(getenv, kindOf(parent), c.Name() == "create", keys)
		case len(args) == 0:
			c.ValidArgsFunction = cobra.NoFileCompletions
		}
	}
	walk(root)
	for _, c := range root.Commands() {
		switch c.Name() {
		case "resources":
			for _, sub := range c.Commands() {
				if sub.Name() == "list" {
					sub.ValidArgsFunction = a.completeNamespaceArg(getenv)
				}
			}
		case "queue":
			for _, sub := range c.Commands() {
				if sub.Name() == "create" {
					queues := a.completePath(getenv, flowmesh.KindQueue, false, false)
					_ = sub.RegisterFlagCompletionFunc("dead-letter", func(cmd *cobra.Command, _ []string, tc string) ([]string, cobra.ShellCompDirective) {
						return queues(cmd, nil, tc)
					})
				}
			}
		}
	}
	_ = root.RegisterFlagCompletionFunc("context", func(_ *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		names, _ := contextStore{getenv: getenv}.names()
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	for _, f := range []string{"output"} {
		_ = root.RegisterFlagCompletionFunc(f, cobra.FixedCompletions([]string{"table", "json"}, cobra.ShellCompDirectiveNoFileComp))
	}
	_ = root.RegisterFlagCompletionFunc("consistency", cobra.FixedCompletions([]string{"linearizable", "leader", "stale"}, cobra.ShellCompDirectiveNoFileComp))
}

// kindOf is the kind of resource a command group's PATH names; KindUnknown: any.
func kindOf(group string) flowmesh.Kind {
	switch group {
	case "stream":
		return flowmesh.KindStream
	case "queue":
		return flowmesh.KindQueue
	case "kv":
		return flowmesh.KindKV
	}
	return flowmesh.KindUnknown
}

// completePath completes a PATH argument (the first) with kind's resources;
// onlyNamespaces (create) stops at TENANT/NS/. With keys, the second
// argument completes the KV store's keys.
func (a *app) completePath(getenv func(string) string, kind flowmesh.Kind, onlyNamespaces, keys bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		const nofile = cobra.ShellCompDirectiveNoFileComp
		switch {
		case len(args) == 1 && keys:
			return a.completeKeys(cmd, getenv, args[0], toComplete)
		case len(args) > 0:
			return nil, nofile
		}
		tenant, rest, _ := strings.Cut(toComplete, "/")
		if flowmesh.ValidateName("tenant", tenant) != nil {
			return nil, nofile
		}
		var rs []*flowmesh.Resource
		if err := a.completionCall(cmd, getenv, func(ctx context.Context) (err error) {
			c, err := a.client()
			if err != nil {
				return err
			}
			rs, err = c.ListResources(ctx, tenant, "")
			return err
		}); err != nil {
			cobra.CompDebugln("flowmesh: "+err.Error(), false)
			return nil, nofile
		}
		var out []string
		if _, _, inName := strings.Cut(rest, "/"); inName && !onlyNamespaces {
			for _, r := range rs {
				if (kind == flowmesh.KindUnknown || r.Kind == kind) && strings.HasPrefix(r.GetPath(), toComplete) {
					out = append(out, r.GetPath())
				}
			}
			return out, nofile
		}
		for _, r := range rs {
			if !onlyNamespaces && kind != flowmesh.KindUnknown && r.Kind != kind {
				continue
			}
			if ns := r.Tenant + "/" + r.Namespace + "/"; strings.HasPrefix(ns, toComplete) && !slices.Contains(out, ns) {
				out = append(out, ns)
			}
		}
		return out, nofile | cobra.ShellCompDirectiveNoSpace
	}
}

// completeKeys completes a KV store's keys (the first page).
func (a *app) completeKeys(cmd *cobra.Command, getenv func(string) string, p, prefix string) ([]string, cobra.ShellCompDirective) {
	if _, _, _, err := flowmesh.ParsePath(p); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	err := a.completionCall(cmd, getenv, func(ctx context.Context) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		es, err := c.List(ctx, p, prefix, "", flowmesh.MaxListEntries, a.readOpts()...)
		for _, e := range es {
			out = append(out, e.Key)
		}
		return err
	})
	if err != nil {
		cobra.CompDebugln("flowmesh: "+err.Error(), false)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeNamespaceArg completes "resources list TENANT [NAMESPACE]"'s namespace.
func (a *app) completeNamespaceArg(getenv func(string) string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) != 1 || flowmesh.ValidateName("tenant", args[0]) != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		err := a.completionCall(cmd, getenv, func(ctx context.Context) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			rs, err := c.ListResources(ctx, args[0], "")
			for _, r := range rs {
				if strings.HasPrefix(r.Namespace, toComplete) && !slices.Contains(out, r.Namespace) {
					out = append(out, r.Namespace)
				}
			}
			return err
		})
		if err != nil {
			cobra.CompDebugln("flowmesh: "+err.Error(), false)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completionCall settles the settings (cobra runs no PersistentPreRunE
// for completions) and runs fn bounded by completionTimeout.
func (a *app) completionCall(cmd *cobra.Command, getenv func(string) string, fn func(ctx context.Context) error) error {
	if err := a.setup(cmd, getenv); err != nil {
		return err
	}
	parent := cmd.Context()
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, min(a.timeout, completionTimeout))
	defer cancel()
	return fn(ctx)
}
