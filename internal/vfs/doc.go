// Package vfs is the file system seam of the storage packages (segment,
// fsm): a small interface covering exactly the calls they make, so that
// in-process tests can inject I/O errors (Inject) and crashes (MemFS's
// CrashClone) into the paths a real disk takes only rarely.
//
// Default is the operating system: its files are *os.File values and each
// method is the os function of the same name, so production code makes the
// same system calls as without the seam and allocates nothing more.
//
// The interface has no file locking: segment and fsm take none (the data
// directory's lock is storage's, storage/lock.go). Snapshot streams
// (internal/snapdir) and raft's stores stay on the OS.
//
// The tagged-build fault hooks (internal/faults, build tag flowmesh_faults)
// stay: they drive whole nodes from the outside; this seam is for tests
// inside one process.
//
// # Crash model
//
// MemFS keeps every file and directory in memory. CrashClone returns the
// file system a machine would find after losing power now: each file holds
// the data it had at its last Sync (none if never synced) and each
// directory the entries it had at its own last Sync. So a file created and
// synced in a directory that was not synced afterwards is lost, as POSIX
// allows. Hard links share one file: what survives of it survives under
// every surviving name.
package vfs
