package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/internal/buildinfo"
)

// versionCmd prints the CLI's build and, with --server, each member's
// version as the cluster reports it.
func (a *app) versionCmd() *cobra.Command {
	var server bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the CLI's version (and, with --server, every node's)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			type node struct {
				ID      string `json:"id"`
				Status  string `json:"status"`
				Version string `json:"version"`
			}
			out := struct {
				Client buildinfo.Info `json:"client"`
				Nodes  []node         `json:"nodes,omitempty"`
			}{Client: buildinfo.Get()}
			if server {
				var ms []client.Member
				if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
					ms, err = c.Members(ctx)
					return err
				}); err != nil {
					return err
				}
				for _, m := range ms {
					out.Nodes = append(out.Nodes, node{ID: m.ID, Status: m.Status, Version: dash(m.Version)})
				}
			}
			return a.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "client\t%s\n", out.Client)
				for _, n := range out.Nodes {
					fmt.Fprintf(w, "node %s\t%s\t(%s)\n", n.ID, n.Version, n.Status)
				}
			})
		},
	}
	cmd.Flags().BoolVar(&server, "server", false, "also ask the cluster for every member's version")
	return cmd
}
