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
// Shutdown order (Stop): stop accepting calls, stop the background loops,
// shut Raft down (waits for in-flight applies), then flush and close the FSM.
package storage
