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
//
// Memory is the peak of the process's RssAnon, sampled every 10 ms from
// /proc/PID/status since it started; VmHWM is logged beside it. VmHWM also
// counts file pages mapped by bbolt (the raft log): replaying 750 MB of log
// after a restart maps about that much, which is page cache the kernel
// reclaims, not memory the node holds.
//
// The nodes run open (no TLS, no tokens): the budgets under test sit below
// authentication or apply to any caller, and test/security covers the
// secure setup. The rows run in about 40 s on two cores; -short skips them
// (and the build).
package abuse
