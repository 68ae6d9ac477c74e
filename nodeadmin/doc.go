// Package nodeadmin is the vocabulary of node administration: what a node
// reports of itself and its cluster (Status, Server, Member, Readiness),
// what describes a snapshot an operator saves or restores (SnapshotMeta,
// RestoreOptions), and the errors of those operations.
//
// It is a leaf (standard library only) shared by the packages that produce
// these values and the one that serves them: package cluster fills them
// from raft and memberlist (and names them by aliases, cluster.Member,
// cluster.Status, ...), package storage hands them out through its admin
// methods (Members, Status, Ready, SaveSnapshot, RestoreSnapshot), and
// package rpc turns them into ClusterService messages. rpc depends on this
// package and on storage's method set only, never on cluster or raft: the
// consensus library stays behind storage.
//
// The values are plain data with no behaviour beyond formatting
// (Readiness.Summary). The string constants (member and readiness states)
// are stable for scripts: they reach operators through the node status and
// the CLI's JSON output. The errors keep the "cluster:" prefix of the
// package that returns them.
package nodeadmin
