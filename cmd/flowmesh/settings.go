package main

import (
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Every global flag has an environment variable, FLOWMESH_ and the flag's
// name in upper case with "-" as "_" (--token-file: FLOWMESH_TOKEN_FILE).
// A setting comes from, in order: the flag, the variable, the context
// (--context, FLOWMESH_CONTEXT or the selected one), the flag's default.
// Variables and contexts are read when a command runs, never as flag
// defaults, so --help shows no token or path from the environment.

// settingFlags are the global flags a context or variable can set, besides
// the token pair (token.go) and --context itself.
var settingFlags = []string{"endpoints", "timeout", "output", "consistency", "cacert", "cert", "key"}

// envName is the environment variable of a global flag.
func envName(flag string) string {
	return "FLOWMESH_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// settle fills the global flags that were not given from the environment
// and then the context, and records where each came from (for errors).
func (a *app) settle(cmd *cobra.Command, getenv func(string) string) error {
	// The root's own flags: a subcommand's flag of the same name (stream
	// write's event --key) must not take FLOWMESH_KEY.
	flags := cmd.Root().PersistentFlags()
	a.source = map[string]string{}
	saved, err := a.chosenContext(cmd, getenv)
	if err != nil {
		return err
	}
	for _, name := range settingFlags {
		f := flags.Lookup(name)
		if f == nil || f.Changed {
			continue
		}
		if v := getenv(envName(name)); v != "" {
			if err := f.Value.Set(v); err != nil {
				return usagef("%s=%q: %v", envName(name), v, err)
			}
			a.source[name] = envName(name)
			continue
		}
		if saved == nil {
			continue
		}
		if v := saved.get(name); v != "" {
			if err := f.Value.Set(v); err != nil {
				return usagef("context %q (%s): %s %q: %v", saved.Name, saved.file, name, v, err)
			}
			a.source[name] = "context " + saved.Name + " " + name
		}
	}
	return a.settleToken(cmd, getenv, saved)
}

// from names where a setting came from: the flag, its variable or the context.
func (a *app) from(name string) string {
	if s, ok := a.source[name]; ok {
		return s
	}
	return "--" + name
}

// chosenContext loads the context named by --context, FLOWMESH_CONTEXT or
// the selection, in that order; nil when none is named.
func (a *app) chosenContext(cmd *cobra.Command, getenv func(string) string) (*savedContext, error) {
	name, what := a.contextName, "--context"
	if !cmd.Flags().Changed("context") {
		name, what = getenv("FLOWMESH_CONTEXT"), "FLOWMESH_CONTEXT"
	}
	st := contextStore{getenv: getenv}
	if name == "" {
		sel, err := st.selected()
		if err != nil {
			return nil, usagef("%v", err)
		}
		if sel == "" {
			return nil, nil
		}
		name, what = sel, "the selected context (flowmesh context select)"
	}
	c, err := st.load(name)
	if err != nil {
		return nil, usagef("%s: %v", what, err)
	}
	return c, nil
}

// settleToken settles the bearer token: --token or --token-file, else
// FLOWMESH_TOKEN or FLOWMESH_TOKEN_FILE, else the context's. Two at the
// same level is a usage error.
func (a *app) settleToken(cmd *cobra.Command, getenv func(string) string, saved *savedContext) error {
	flags := cmd.Root().PersistentFlags()
	switch {
	case flags.Changed("token") && flags.Changed("token-file"):
		return usagef("--token and --token-file: give one")
	case flags.Changed("token") || flags.Changed("token-file"):
	case getenv("FLOWMESH_TOKEN") != "" && getenv("FLOWMESH_TOKEN_FILE") != "":
		return usagef("FLOWMESH_TOKEN and FLOWMESH_TOKEN_FILE are both set: set one")
	case getenv("FLOWMESH_TOKEN") != "":
		a.token = getenv("FLOWMESH_TOKEN")
	case getenv("FLOWMESH_TOKEN_FILE") != "":
		a.tokenFile = getenv("FLOWMESH_TOKEN_FILE")
		a.source["token-file"] = "FLOWMESH_TOKEN_FILE"
	case saved != nil && saved.TokenFile != "":
		a.tokenFile = saved.TokenFile
		a.source["token-file"] = "context " + saved.Name + " token_file"
	case saved != nil:
		a.token = saved.Token
	}
	if a.tokenFile == "" {
		return nil
	}
	b, err := os.ReadFile(a.tokenFile)
	if err != nil {
		return usagef("%s: %v", a.from("token-file"), err)
	}
	a.token = strings.TrimSpace(string(b))
	if a.token == "" || strings.ContainsAny(a.token, " \t\r\n") {
		return usagef("%s %s: want one token on one line", a.from("token-file"), a.tokenFile)
	}
	return nil
}
