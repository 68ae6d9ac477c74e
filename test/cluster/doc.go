// Package cluster holds FlowMesh's cluster tests: real node processes
// (bin/flowmesh-node, built once per test binary) on 127.0.0.1 with free
// ports and temp data dirs, driven through the Go SDK and the flowmesh CLI.
// The package has no code of its own; the tests and their small harness
// (StartCluster, Node.Kill/Stop/Start/Pause/Resume, WaitReady, Leader) are
// in the _test.go files.
//
// The nodes run the secure setup the README tells users to run: per
// cluster, `flowmesh-node certs init DIR --hosts 127.0.0.1`, then every node
// with --tls-dir DIR (TLS on gRPC and HTTP, mutual TLS and the gossip key
// between nodes, authentication with DIR/auth). Every client of the harness
// (the SDK, raw gRPC connections, the CLI, /readyz over HTTPS) trusts
// DIR/ca.crt and presents DIR/client.crt, which DIR/auth makes
// cluster-admin, so the SIGKILL, pause and restart rounds also prove the
// TLS paths: handshakes under failover, forwarding between nodes over
// TLS, raft over mutual TLS. ClusterOptions.Plaintext starts an open
// cluster for a test of that mode; FLOWMESH_INSECURE=1 makes every
// cluster plaintext, as it does scripts/cluster.sh (to compare the two,
// e.g. the failover figures). FLOWMESH_* variables are kept out of the
// processes' environment, since nodes and CLI read them as flags.
//
// TestConsoleInBrowser loads a follower's /console in headless Chromium
// (--dump-dom and --screenshot); without a chromium, chromium-browser or
// google-chrome on PATH (or FLOWMESH_CHROMIUM) that half is skipped with a
// note, unless FLOWMESH_REQUIRE_CHROMIUM=1, which .ci/run sets after
// installing it.
//
// Every test bounds itself with a deadline and kills the processes it
// started in t.Cleanup; on failure it prints the tail of each node's log.
//
// `go test ./...` (scripts/test.sh) runs them all, in about a minute and a
// half on two cores (the snapshot catch-up test writes 22000 log entries);
// -short or FLOWMESH_CLUSTER_TESTS=0 skips them. scripts/cluster-tests.sh
// runs this package alone. The failover measurement runs only when
// FLOWMESH_FAILOVER_BENCH=1 (scripts/failover-bench.sh).
package cluster
