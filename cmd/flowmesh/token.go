package main

import (
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// tokenFlags adds --token and --token-file. Their environment variables
// are read at run time, not as flag defaults, so --help never prints a
// token.
func (a *app) tokenFlags(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringVar(&a.token, "token", "", "bearer token sent on every call (env FLOWMESH_TOKEN; prefer --token-file: a flag shows in ps)")
	pf.StringVar(&a.tokenFile, "token-file", "", "file holding the bearer token (env FLOWMESH_TOKEN_FILE)")
}

// resolveToken settles the token from the flags or the environment.
func (a *app) resolveToken(cmd *cobra.Command, getenv func(string) string) error {
	flags := cmd.Flags()
	if !flags.Changed("token") {
		a.token = getenv("FLOWMESH_TOKEN")
	}
	if !flags.Changed("token-file") {
		a.tokenFile = getenv("FLOWMESH_TOKEN_FILE")
	}
	if a.tokenFile == "" {
		return nil
	}
	if flags.Changed("token") {
		return usagef("--token and --token-file: give one")
	}
	b, err := os.ReadFile(a.tokenFile)
	if err != nil {
		return usagef("--token-file: %v", err)
	}
	a.token = strings.TrimSpace(string(b))
	if a.token == "" || strings.ContainsAny(a.token, " \t\r\n") {
		return usagef("--token-file %s: want one token on one line", a.tokenFile)
	}
	return nil
}
