package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/internal/human"
)

func (a *app) clusterCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Cluster status, membership and snapshots"}
	cmd.AddCommand(a.clusterMembersCmd(), a.clusterStatusCmd(), a.clusterJoinCmd(), a.clusterLeaveCmd(),
		a.clusterRemovePeerCmd(), a.clusterTransferCmd(), a.clusterSnapshotCmd())
	return cmd
}

func (a *app) clusterMembersCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "members",
		Short: "List the cluster's nodes as gossip and the raft configuration see them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ms []client.Member
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				ms, err = c.Members(ctx)
				return err
			}); err != nil {
				return err
			}
			type member struct {
				ID           string `json:"id"`
				Status       string `json:"status"`
				Voter        bool   `json:"voter"`
				InConfig     bool   `json:"in_config"`
				Leader       bool   `json:"leader"`
				GRPCAddr     string `json:"grpc_addr"`
				RaftAddr     string `json:"raft_addr"`
				GossipAddr   string `json:"gossip_addr"`
				AppliedIndex uint64 `json:"applied_index"`
				Version      string `json:"version"`
			}
			out := make([]member, 0, len(ms))
			for _, m := range ms {
				out = append(out, member{ID: m.ID, Status: m.Status, Voter: m.Voter, InConfig: m.InConfig, Leader: m.Leader,
					GRPCAddr: m.GRPCAddr, RaftAddr: m.RaftAddr, GossipAddr: m.GossipAddr, AppliedIndex: m.AppliedIndex, Version: m.Version})
			}
			return a.emit(out, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tSTATUS\tSUFFRAGE\tLEADER\tGRPC\tRAFT\tGOSSIP\tAPPLIED\tVERSION")
				for _, m := range ms {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", m.ID, m.Status, suffrage(m), yes(m.Leader),
						dash(m.GRPCAddr), dash(m.RaftAddr), dash(m.GossipAddr), m.AppliedIndex, dash(m.Version))
				}
			})
		},
	}
}

func suffrage(m client.Member) string {
	switch {
	case !m.InConfig:
		return "none"
	case m.Voter:
		return "voter"
	}
	return "nonvoter"
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return ""
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// nodeStatus is one row of cluster status.
type nodeStatus struct {
	Addr              string   `json:"addr"`
	NodeID            string   `json:"node_id,omitempty"`
	Role              string   `json:"role,omitempty"`
	Term              uint64   `json:"term"`
	CommitIndex       uint64   `json:"commit_index"`
	AppliedIndex      uint64   `json:"applied_index"`
	Lag               uint64   `json:"lag"`
	Health            string   `json:"health"`
	LastLogIndex      uint64   `json:"last_log_index"`
	LastSnapshotIndex uint64   `json:"last_snapshot_index"`
	LeaderID          string   `json:"leader_id,omitempty"`
	LeaderGRPCAddr    string   `json:"leader_grpc_addr,omitempty"`
	Version           string   `json:"version,omitempty"`
	ClusterID         string   `json:"cluster_id,omitempty"`
	DiskFreeBytes     int64    `json:"disk_free_bytes"`
	DiskReserveBytes  int64    `json:"disk_reserve_bytes"`
	Alarms            []string `json:"alarms,omitempty"`
	Ready             bool     `json:"ready"`
	Readiness         string   `json:"readiness,omitempty"`
	NotReadyReason    string   `json:"not_ready_reason,omitempty"`
	Behind            uint64   `json:"behind,omitempty"`
	AwaitingReadd     bool     `json:"awaiting_readd,omitempty"`
	Error             string   `json:"error,omitempty"`
}

// readySummary is the READY column: "yes", "catching up 4880 entries",
// "removed, awaiting re-add", "no leader", ...
func readySummary(r nodeStatus) string {
	switch r.Readiness {
	case "":
		if r.Error != "" {
			return "-"
		}
		return "?" // a node that does not report readiness
	case "ready":
		return "yes"
	case "catching-up":
		if r.Behind > 0 {
			return fmt.Sprintf("catching up %d entries", r.Behind)
		}
		return "catching up"
	case "removed":
		if r.AwaitingReadd {
			return "removed, awaiting re-add"
		}
		return "removed"
	case "no-leader":
		if r.AwaitingReadd {
			return "no leader (removed? awaiting re-add)"
		}
		return "no leader"
	}
	return r.Readiness
}

func (a *app) clusterStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show every node's role, term, commit/applied index, lag and health",
		Long: `status asks every member (as the cluster reports them) and every --endpoints
address for its status. A node that does not answer is shown "unreachable";
the command then exits 1. A member that answered at one of the --endpoints is
not asked again at the address it advertises, so from outside the nodes'
network (the host, through docker's published ports) give every node's
published address in --endpoints.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout)
			defer cancel()
			addrs := a.endpointList()
			memberAt := map[string]string{} // advertised gRPC address -> member ID
			if ms, err := c.Members(ctx); err == nil {
				for _, m := range ms {
					if m.GRPCAddr != "" && m.Status != "left" {
						addrs = append(addrs, m.GRPCAddr)
						memberAt[m.GRPCAddr] = m.ID
					}
				}
			}
			slices.Sort(addrs)
			addrs = slices.Compact(addrs)
			rows := make([]nodeStatus, len(addrs))
			var wg sync.WaitGroup
			for i, addr := range addrs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st, err := c.StatusOf(ctx, addr)
					if err != nil {
						rows[i] = nodeStatus{Addr: addr, Health: "unreachable", Error: err.Error()}
						return
					}
					rows[i] = nodeStatus{Addr: addr, NodeID: st.NodeID, Role: st.Role, Term: st.Term,
						CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex, Lag: st.Lag, Health: st.Health,
						LastLogIndex: st.LastLogIndex, LastSnapshotIndex: st.LastSnapshotIndex,
						LeaderID: st.LeaderID, LeaderGRPCAddr: st.LeaderGRPCAddr, Version: st.Version, ClusterID: st.ClusterID,
						DiskFreeBytes: st.DiskFreeBytes, DiskReserveBytes: st.DiskReserveBytes, Alarms: st.Alarms,
						Ready: st.Ready, Readiness: st.Readiness, NotReadyReason: st.NotReadyReason, Behind: st.Behind, AwaitingReadd: st.AwaitingReadd}
				}()
			}
			wg.Wait()
			// A node listed under two addresses (an endpoint and its
			// advertised address) is shown once, from the address that
			// answered: seen from the host through published ports, the
			// addresses nodes advertise inside their network (docker
			// compose's node1:7400) do not resolve, and the endpoints
			// given are the same nodes.
			answered := map[string]bool{}
			for _, r := range rows {
				if r.Error == "" && r.NodeID != "" {
					answered[r.NodeID] = true
				}
			}
			seen := map[string]bool{}
			out := rows[:0]
			for _, r := range rows {
				if id := memberAt[r.Addr]; r.Error != "" && id != "" {
					if answered[id] {
						continue
					}
					r.NodeID = id
					r.Error += " (the address it advertises; if it is not reachable from here, give one that is in --endpoints)"
				}
				if r.NodeID != "" && seen[r.NodeID] {
					continue
				}
				seen[r.NodeID] = r.NodeID != ""
				out = append(out, r)
			}
			if err := a.emit(out, func(w io.Writer) {
				fmt.Fprintln(w, "NODE\tADDR\tROLE\tTERM\tCOMMIT\tAPPLIED\tLAG\tHEALTH\tREADY\tLEADER\tDISK FREE\tALARMS")
				for _, r := range out {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", dash(r.NodeID), r.Addr, dash(r.Role), r.Term,
						r.CommitIndex, r.AppliedIndex, r.Lag, r.Health, readySummary(r), dash(r.LeaderID), diskFree(r), dash(strings.Join(r.Alarms, "; ")))
				}
				// Why each node that is not ready is not, in full.
				blank := false
				for _, r := range out {
					if r.NotReadyReason != "" {
						if !blank {
							fmt.Fprintln(w)
							blank = true
						}
						fmt.Fprintf(w, "%s: not ready: %s\n", dash(r.NodeID), r.NotReadyReason)
					}
				}
			}); err != nil {
				return err
			}
			for _, r := range out {
				if r.Error != "" {
					return failed(fmt.Errorf("%s: %s", r.Addr, r.Error))
				}
			}
			return nil
		},
	}
}

func (a *app) clusterJoinCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "join ADDR...",
		Short:   "Have the node join the cluster of the nodes at the gossip addresses",
		Example: "  flowmesh --endpoints 127.0.0.1:7410 cluster join 127.0.0.1:7301",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, addr := range args {
				if err := flowmesh.ValidateAddr("address", addr); err != nil {
					return usagef("%v", err)
				}
			}
			var n int
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				n, err = c.Join(ctx, args...)
				return err
			}); err != nil {
				return err
			}
			return a.emit(map[string]any{"joined": n}, func(w io.Writer) {
				fmt.Fprintf(w, "joined: %d of %d addresses answered\n", n, len(args))
			})
		},
	}
}

func (a *app) clusterLeaveCmd() *cobra.Command {
	var node string
	cmd := &cobra.Command{
		Use:   "leave",
		Short: "Take a node out of the cluster gracefully (the node then stops)",
		Long: `leave takes the node given with --node (default: the node the client talks to,
the first endpoint) out of the cluster: a leader hands leadership over first,
the node leaves the raft configuration, then gossip, then stops.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) error {
				return c.Leave(ctx, node)
			}); err != nil {
				return err
			}
			return a.emit(map[string]any{"left": dash(node)}, func(w io.Writer) {
				fmt.Fprintf(w, "left: %s\n", dash(node))
			})
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "ID of the node to leave (default: the node the client talks to)")
	return cmd
}

func (a *app) clusterRemovePeerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove-peer ID",
		Short: "Remove a server (a dead one, say) from the raft configuration",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) error {
				return c.RemovePeer(ctx, args[0])
			}); err != nil {
				return err
			}
			return a.emit(map[string]any{"removed": args[0]}, func(w io.Writer) {
				fmt.Fprintf(w, "removed: %s\n", args[0])
			})
		},
	}
}

func (a *app) clusterTransferCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "transfer-leader [ID]",
		Short: "Hand leadership to a voter (any suitable one without ID)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := argAt(args, 0)
			var st client.NodeStatus
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				if err := c.TransferLeader(ctx, id); err != nil {
					return err
				}
				st, err = c.Status(ctx)
				return err
			}); err != nil {
				return err
			}
			return a.emit(map[string]any{"leader_id": st.LeaderID, "leader_grpc_addr": st.LeaderGRPCAddr}, func(w io.Writer) {
				fmt.Fprintf(w, "leader: %s %s\n", dash(st.LeaderID), st.LeaderGRPCAddr)
			})
		},
	}
}

func (a *app) clusterSnapshotCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "snapshot", Short: "Save the cluster's state to a file, or restore it from one"}
	cmd.AddCommand(&cobra.Command{
		Use:   "save FILE",
		Short: "Have the leader take a snapshot and write it to FILE",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var info client.SnapshotInfo
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) (err error) {
				info, err = saveSnapshot(ctx, c, args[0])
				return err
			}); err != nil {
				return err
			}
			return a.emit(info, func(w io.Writer) {
				fmt.Fprintf(w, "saved %s: index %d, term %d, %d bytes\n", args[0], info.Index, info.Term, info.Size)
			})
		},
	})
	var force, yes bool
	restore := &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the whole cluster's state with the snapshot in FILE",
		Long: "Replace the whole cluster's state with the snapshot in FILE. The leader verifies the whole\n" +
			"snapshot first. A snapshot of another cluster, or one saved before snapshots carried\n" +
			"their cluster ID, is refused unless --force-cluster-id is given.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return usagef("%v", err)
			}
			defer f.Close()
			br := bufio.NewReader(f)
			info, err := readSnapshotHeader(br)
			if err != nil {
				return usagef("%s: %v", args[0], err)
			}
			if err := a.confirm(yes, "restore replaces the whole cluster's state with "+args[0]); err != nil {
				return err
			}
			if err := a.call(cmd, func(ctx context.Context, c *client.Client) error {
				var opts []client.SnapshotRestoreOption
				if force {
					opts = append(opts, client.ForceClusterID())
				}
				return c.SnapshotRestore(ctx, info, br, opts...)
			}); err != nil {
				return err
			}
			return a.emit(info, func(w io.Writer) {
				fmt.Fprintf(w, "restored %s: index %d, term %d, %d bytes\n", args[0], info.Index, info.Term, info.Size)
			})
		},
	}
	restore.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask")
	restore.Flags().BoolVar(&force, "force-cluster-id", false,
		"restore a snapshot of another cluster, or one that names no cluster (older format)")
	cmd.AddCommand(restore)
	return cmd
}

// snapshotMagic starts a snapshot file: the magic line, a JSON line with
// the client.SnapshotInfo, then the raft snapshot stream of info.Size bytes.
const snapshotMagic = "FLOWMESH-SNAPSHOT 1"

// saveSnapshot writes the snapshot to a temporary file next to name and
// renames it into place once complete.
func saveSnapshot(ctx context.Context, c *client.Client, name string) (client.SnapshotInfo, error) {
	tmp, err := os.CreateTemp(filepath.Dir(name), filepath.Base(name)+".tmp*")
	if err != nil {
		return client.SnapshotInfo{}, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	// The header is written last, over room reserved for it: the info
	// arrives with the stream.
	const headerRoom = 512
	if _, err := tmp.Seek(headerRoom, io.SeekStart); err != nil {
		return client.SnapshotInfo{}, err
	}
	info, err := c.SnapshotSave(ctx, tmp)
	if err != nil {
		return info, err
	}
	hdr, err := json.Marshal(info)
	if err != nil {
		return info, err
	}
	line := snapshotMagic + "\n" + string(hdr)
	if len(line)+1 > headerRoom {
		return info, fmt.Errorf("snapshot header of %d bytes does not fit", len(line))
	}
	line += strings.Repeat(" ", headerRoom-len(line)-1) + "\n"
	if _, err := tmp.WriteAt([]byte(line), 0); err != nil {
		return info, err
	}
	if err := tmp.Sync(); err != nil {
		return info, err
	}
	if err := tmp.Close(); err != nil {
		return info, err
	}
	return info, os.Rename(tmp.Name(), name)
}

func readSnapshotHeader(r *bufio.Reader) (client.SnapshotInfo, error) {
	var info client.SnapshotInfo
	magic, err := r.ReadString('\n')
	if err != nil || strings.TrimSpace(magic) != snapshotMagic {
		return info, fmt.Errorf("not a FlowMesh snapshot file")
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return info, fmt.Errorf("snapshot header: %v", err)
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(line)), &info); err != nil {
		return info, fmt.Errorf("snapshot header: %v", err)
	}
	if info.Size <= 0 {
		return info, fmt.Errorf("snapshot header: size %d", info.Size)
	}
	return info, nil
}

// diskFree shows a node's free disk against its reserve, "-" when the
// node did not report it.
func diskFree(r nodeStatus) string {
	if r.DiskFreeBytes == 0 && r.DiskReserveBytes == 0 {
		return "-"
	}
	return human.Bytes(r.DiskFreeBytes) + " (reserve " + human.Bytes(r.DiskReserveBytes) + ")"
}
