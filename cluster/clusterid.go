package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/flowmesh/flowmesh/internal/durable"
)

// The cluster ID names one Raft cluster: nodes of different clusters never
// merge their gossip pools, and a leader never adds a node of another
// cluster to its configuration (its log would be overwritten with ours).
//
// It is derived from the bootstrap configuration, so every node that
// bootstraps the same cluster (bootstrap-expect) computes the same ID
// without talking, and stored in the raft directory. A node that joins
// later, fresh, adopts the ID its leader gossips once it is in the raft
// configuration. A node with raft state but no ID (made before IDs
// existed) adopts its leader's, and a leader without one derives it from
// its current configuration.
const clusterIDFile = "cluster-id"

var clusterIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// deriveClusterID returns the ID of a cluster bootstrapped with servers:
// a digest of their IDs and addresses, independent of their order.
func deriveClusterID(servers []Server) string {
	lines := make([]string, len(servers))
	for i, s := range servers {
		lines[i] = s.ID + "\x00" + s.Address
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:16])
}

// loadClusterID reads the stored ID of the raft directory dir ("" if none).
func loadClusterID(dir string) (string, error) {
	p := filepath.Join(dir, clusterIDFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cluster: read cluster ID: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if !clusterIDPattern.MatchString(id) {
		return "", fmt.Errorf("cluster: %s holds %q, not a cluster ID (32 hex digits)", p, id)
	}
	return id, nil
}

// ClusterID is the ID of the cluster this node belongs to, or "" while it
// does not know it (fresh, not yet added by a leader).
func (c *Cluster) ClusterID() string {
	if p := c.clusterID.Load(); p != nil {
		return *p
	}
	return ""
}

// setClusterID stores id (once: a node never changes cluster).
func (c *Cluster) setClusterID(id, why string) error {
	if !clusterIDPattern.MatchString(id) {
		return fmt.Errorf("cluster: %q is not a cluster ID", id)
	}
	c.clusterIDMu.Lock()
	defer c.clusterIDMu.Unlock()
	if cur := c.ClusterID(); cur != "" {
		if cur != id {
			return fmt.Errorf("cluster: this node is in cluster %s, not %s", cur, id)
		}
		return nil
	}
	p := filepath.Join(c.cfg.DataDir, raftDirName, clusterIDFile)
	if err := durable.WriteFile(p, []byte(id+"\n")); err != nil {
		return fmt.Errorf("cluster: store cluster ID: %w", err)
	}
	c.clusterID.Store(&id)
	c.logger.Info("cluster ID set", "cluster_id", id, "how", why)
	return nil
}

// learnClusterID gives a node that has raft state but no cluster ID one:
// its leader's (from gossip), or, on the leader itself, one derived from
// the current configuration. It reports whether the ID is known.
func (c *Cluster) learnClusterID(m *Membership) bool {
	if c.ClusterID() != "" {
		return true
	}
	if !c.HasState() {
		return false
	}
	_, leaderID := c.raft.LeaderWithID()
	switch {
	case leaderID == "":
		return false
	case string(leaderID) == c.cfg.ID:
		if !c.IsLeader() {
			return false
		}
		servers, err := c.Servers()
		if err != nil || len(servers) == 0 {
			return false
		}
		if err := c.setClusterID(deriveClusterID(servers), "derived by the leader from its configuration"); err != nil {
			c.logger.Warn("cluster ID", "err", err)
			return false
		}
		return true
	}
	// Only a member of the leader's configuration adopts its ID: a node
	// that merely heard of a leader has not been accepted by it.
	servers, err := c.Servers()
	if err != nil || !containsServer(servers, c.cfg.ID) {
		return false
	}
	mb, ok := m.Member(string(leaderID))
	if !ok || mb.ClusterID == "" {
		return false
	}
	if err := c.setClusterID(mb.ClusterID, "adopted from leader "+mb.ID); err != nil {
		c.logger.Warn("cluster ID", "err", err)
		return false
	}
	return true
}

func containsServer(servers []Server, id string) bool {
	for _, s := range servers {
		if s.ID == id {
			return true
		}
	}
	return false
}

// foreignCluster reports why a member with cluster ID theirs must be kept
// out of a node whose cluster ID is ours, or "" when it may join. An empty
// ID on either side (a fresh node) is no objection.
func foreignCluster(ours, theirs, id string) string {
	if ours == "" || theirs == "" || ours == theirs {
		return ""
	}
	return fmt.Sprintf("node %s belongs to cluster %s, this node to cluster %s", id, theirs, ours)
}
