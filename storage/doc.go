// Package storage is the embeddable FlowMesh node: the founding API.
//
//	s, err := storage.New("./data")
//	err = s.Start(ctx)
//	defer s.Stop(context.Background())
//	factory := storage.NewResourceFactory(s.MetaStore())
//	stream, err := factory.CreateStream(ctx, "tenant1", "ns1", "events", 1)
//	offsets, err := s.StreamManager().WriteEvents(ctx, stream.GetPath(), events)
//
// A Storage runs a Raft node (a single-voter cluster by default) whose FSM
// (package fsm) applies every write to the local segment store. Writes are
// proposed through package cluster and acknowledged only once committed.
// Reads take a consistency level (flowmesh.WithConsistency): linearizable by
// default (read-index through the leader), or stale from local state.
//
// Background work, all owned and stopped by Stop: a flush loop that makes the
// FSM durable every FlushInterval (raft's log is fsynced on every commit, so
// this bounds only replay work after a crash), and on the leader the TTL
// expirer and the stream retention loop, which propose commands so every
// replica makes the same decision.
//
// # Quotas
//
// SetQuota and Quota (quota.go) implement flowmesh.QuotaManager: SetQuota
// proposes an fsm SetQuota command, Quota is a linearizable read of the
// FSM's limits and use (package fsm enforces them in Apply). Config's
// DefaultQuota is never read by the FSM: the leader loop proposes its set
// fields as the cluster default ("*") once per leadership, when they differ
// from the replicated ones, so every replica enforces what the log says
// even if nodes' configurations differ (the last leader's then wins;
// between elections an admin's SetQuota of "*" stands). QuotaUsage and
// QuotaLimits read local state without waiting, for /metrics.
//
// # Clusters
//
// With Config.GossipAddr set, the node gossips (cluster.Membership) and
// joins Config.Join in the background; BootstrapExpect N > 1 forms a
// cluster once N fresh servers see each other, and the leader adds,
// promotes and removes servers as gossip reports them (cluster.Manage).
// Start then returns without waiting for a leader. Members, LeaderGRPC,
// Join, RemovePeer and TransferLeadership serve the operators' API; Leave
// takes the node out of the raft configuration and gossip before Stop (a
// follower asks the leader through the SetRemoveSelf hook, which the rpc
// layer sets; without it, it leaves gossip and the leader removes it).
// NotLeaderError.LeaderAddr carries the leader's gossiped gRPC address.
//
// Config.PeerServerTLS/PeerClientTLS put raft under mutual TLS against the
// peer CA. Memberlist stays outside TLS, so with peer TLS and gossip on a
// GossipKey is required: memberlist encrypts its UDP packets and TCP
// streams with it, and a host without the key cannot gossip (nor be added
// by reconciliation, which acts only on gossiped members).
//
// # File descriptors
//
// Every segment log of the node goes through one segment.FileCache sized
// by Config.MaxOpenSegmentFiles (default half of RLIMIT_NOFILE, which the
// Go runtime raises to the hard limit at start): files are opened on use
// and the least recently used idle ones closed, so nothing a client creates
// (streams of 1024 partitions, queues, KV stores) can exhaust descriptors,
// on the leader or on a follower, and no admission check is needed for
// them. SegmentFiles reports open files, the budget and evictions for
// metrics. Start logs the budget and RLIMIT_NOFILE.
//
// Config.RaftLimits, GossipMaxStreams and GossipMaxStreamBytes pass the
// transport budgets to cluster (see cluster's doc, "Transport budgets");
// TransportStats reports their use for /metrics.
//
// Shutdown order (Stop): stop accepting calls, stop the background loops,
// shut Raft down (waits for in-flight applies), stop gossip (without a
// leave message: others see a dead node), then flush and close the FSM.
package storage
