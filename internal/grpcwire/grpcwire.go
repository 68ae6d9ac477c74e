// Package grpcwire holds the HTTP/2 flow-control settings that every
// FlowMesh gRPC connection uses: the SDK's (package client), a follower's
// forwarding connections to the leader and the server's (package rpc).
//
// gRPC's default is a dynamic window: the receiver of a DATA frame sends a
// BDP ping (and a connection WINDOW_UPDATE) whenever none is outstanding, to
// estimate bandwidth × delay and grow the window. With many connections each
// carrying one small unary call at a time — FlowMesh's common load: one SDK
// client per worker — that is a ping per request and per response, each
// answered by a ping ack: measured on a three-node cluster at 64 clients
// (BENCHMARKS.md, "static flow-control windows"), about 1.3 extra write(2)s
// and 2.2 extra read(2)s per call on the client and on the leader, a write
// costing ~13 µs of CPU on loopback. Static windows, large enough that a
// largest request (rpc.DefaultMaxRecvMsgSize) or a stream read crosses them
// in a handful of updates, remove the pings.
//
// The connection window is also the most a peer can have sent that the
// receiver has not consumed: per connection, the server holds at most
// ConnWindow bytes that no handler read yet (the dynamic window could grow to
// 16 MiB). The price: one connection moves at most ConnWindow per round trip
// (40 MiB/s at 100 ms), where a dynamic window would grow on a long, fat
// link; an SDK user on such a link can pass larger static windows in
// client.Config.DialOptions, which come after these.
package grpcwire

import "google.golang.org/grpc"

const (
	// StreamWindow is each stream's (call's) flow-control window.
	StreamWindow = 1 << 20
	// ConnWindow is each connection's flow-control window.
	ConnWindow = 4 << 20
)

// DialOptions are the static windows for a client connection.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithStaticStreamWindowSize(StreamWindow), grpc.WithStaticConnWindowSize(ConnWindow)}
}

// ServerOptions are the static windows for a server.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.StaticStreamWindowSize(StreamWindow), grpc.StaticConnWindowSize(ConnWindow)}
}
