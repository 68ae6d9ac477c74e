// Package abuse replays the rows of issue 10 ("Bounded under abuse")
// against real node processes (cmd/node, built once per test binary) on
// 127.0.0.1 with free ports and temp data dirs. Each row asserts that the
// node's memory stays under RSSBound (512 MB), that it keeps serving while
// and after it is abused, that the abuser gets the right status code, and
// that nothing acknowledged is lost:
//
//   - 300 Subscribe streams that never read, on a 51 MiB stream: each is
//     cut off as slow (--slow-consumer-timeout 3s here) with
//     ResourceExhausted SLOW_CONSUMER and where to resume; every event is
//     still there afterwards.
//   - 3000 puts of 256 KiB to one key, then a delete: bounded, also after
//     a restart, and the delete survives it.
//   - 3000 TCP connections to the gRPC port that never speak HTTP/2: all
//     closed by the handshake timeout (10 s), while the node serves.
//   - invalid UTF-8, garbage protobuf, a Join of 256.1.1.1:99999 and a
//     1 MiB path: InvalidArgument, with a bounded message.
//   - a data dir on a full disk (TestDiskFull, on a 64 MiB tmpfs; skipped
//     with the reason when the test cannot mount one): something else
//     fills the disk to the last byte while clients write; the node stays
//     up with its NOSPACE alarm, refuses writes with ResourceExhausted
//     "disk full", serves reads; SIGKILL and SIGTERM restarts at 0 bytes
//     free start read-only; a fresh data dir there fails naming the disk;
//     when space returns writes work and every acknowledged write is
//     there, also after another SIGKILL.
//
// The other rows of the table are replayed against node processes
// where their budgets are wired, and run with the package's tests in CI:
//
//   - one raft connection sending a 512 MiB msgpack field, 2000 raft
//     connections sending 1 MiB then stalling, and gossip without a key
//     (32 compressed payloads inflating to 64-100 MiB each): cmd/node
//     TestNodeTransportAbuse, a node process under the same 512 MB bound;
//     it waits out the raft read timeout (30 s), so it stays there to keep
//     this suite short. The budgets themselves: cluster
//     TestRaftTransportBudgets, TestGossipBudget, TestGossipStreamBytes.
//   - 9 CreateStream calls of 1024 partitions ("too many open files", a
//     crash loop): cmd/node TestNodeSurvivesMorePartitionsThanDescriptors,
//     a node process with RLIMIT_NOFILE 256 and 600 partitions, restarted
//     under the same limit (FLOWMESH_FDTEST_FULL=1: the 9 x 1024).
//   - the full disk, in process and in a cluster: storage
//     TestDiskFullAlarm, TestDiskFullFollower (a follower's full disk
//     stops the leader's growth), TestDiskFullRestartAtZeroFree,
//     TestDiskFullApplyWaitsForSpace; cmd/node TestNodeDiskFull (/readyz,
//     /metrics and cluster status under the alarm).
//
// Memory is the peak of the process's RssAnon, sampled every 10 ms from
// /proc/PID/status since it started; VmHWM is logged beside it. VmHWM also
// counts file pages mapped by bbolt (the raft log): replaying 750 MB of log
// after a restart maps about that much, which is page cache the kernel
// reclaims, not memory the node holds.
//
// The nodes run open (no TLS, no tokens): the budgets under test sit below
// authentication or apply to any caller, and test/security covers the
// secure setup. The rows run in under a minute on two cores (56 s
// measured with TestDiskFull); -short skips them (and the build).
package abuse
