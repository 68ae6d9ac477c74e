// Package cluster holds FlowMesh's cluster tests: real node processes
// (bin/flowmesh-node, built once per test binary) on 127.0.0.1 with free
// ports and temp data dirs, driven through the Go SDK and the flowmesh CLI.
// The package has no code of its own; the tests and their small harness
// (StartCluster, Node.Kill/Stop/Start/Pause/Resume, WaitReady, Leader) are
// in the _test.go files.
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
