package main

import (
	"github.com/spf13/cobra"
)

// tokenFlags adds --token and --token-file. Their environment variables
// and contexts are read at run time (settleToken), not as flag defaults,
// so --help never prints a token.
func (a *app) tokenFlags(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringVar(&a.token, "token", "", "bearer token sent on every call (env FLOWMESH_TOKEN; prefer --token-file: a flag shows in ps)")
	pf.StringVar(&a.tokenFile, "token-file", "", "file holding the bearer token (env FLOWMESH_TOKEN_FILE)")
}
