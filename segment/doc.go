// Package segment stores crash-safe, append-only logs of records in segment
// files. It knows nothing of Raft: a record merely carries the raft index
// that produced it, so that callers can find what survived a crash
// (LastIndex) and drop what must be replayed (TruncateAfterIndex).
//
// # Contract
//
//   - One writer at a time (writes are serialised by a mutex); any number of
//     concurrent readers. Readers use ReadAt on the files and see only what
//     the writer published after a whole batch was written, so they never
//     see a partial record or batch and never block the writer on I/O.
//   - Offsets are dense: the first record of a new log has offset 0 and each
//     record gets the next one. EarliestOffset rises with DeleteBefore;
//     NextOffset falls with Truncate.
//   - Appends are written with one write call per batch but are durable only
//     after Sync (or a roll, which syncs the sealed segment). After a crash
//     Open keeps every complete batch and cuts everything after it, so a
//     batch is atomic on disk too: LastIndex never names a half-written
//     batch.
//   - Records returned by Read alias shared read buffers: treat Key and
//     Payload as read-only; they stay valid as long as referenced.
//   - Timestamps are given by the caller and only compared with each other
//     (SegmentMaxAge, FindOffsetByTime); the wall clock is never consulted.
//
// # Configuration
//
// Config embeds Options, the roll and index settings a node's operator
// tunes (storage.Config.Segment), with the package's defaults
// (DefaultOptions, EnsureDefaults: 64 MiB, a day of record time, a 4 KiB
// index interval; a negative SegmentMaxAge never rolls by age) and checks
// (Validate). MaxRecordSize and the FileCache stay in Config: they are
// bounds of the format and wiring of the node, not tuning.
//
// # On-disk format
//
// A log is a directory. Each segment is a pair of files named by the offset
// of its first record, zero-padded to 20 digits:
//
//	00000000000000000000.log   frames, back to back
//	00000000000000000000.idx   sparse offset index (derived; rebuilt if bad)
//
// All segments but the last are sealed: immutable and synced, with their
// index, before the next segment file is created. Only the last segment can
// have a torn tail. An empty file named CLEAN is written by Close after the
// final sync and removed by Open before any write. Files ending in .tmp are leftovers of an interrupted
// rewrite and are deleted by Open.
//
// Frame (little endian). Append only, never change; bump the version byte
// if you must:
//
//	uint32  L      body length (bytes after these 8)
//	uint32  CRC32C (Castagnoli) of the L body bytes
//	body:
//	uint8   version = 1
//	uint8   flags: bit 0 = last record of its batch, bit 1 = first record
//	        of its batch; other bits must be 0
//	uint64  offset
//	uint64  raft index
//	int64   timestamp, unix nanoseconds
//	uvarint key length, key bytes
//	uvarint header count, then per header:
//	        uvarint key length, key, uvarint value length, value
//	payload: the remaining body bytes
//
// Index entry (8 bytes, little endian; append only, never change):
//
//	uint32  offset relative to the segment's base offset
//	uint32  byte position of that record's frame in the .log file
//
// Entries strictly increase; the first record (position 0) is implicit; an
// entry is added for the first record starting IndexInterval or more bytes
// after the previous entry.
//
// # Recovery
//
// Open scans the last segment, verifying CRCs and offsets, and truncates the file after the last frame that closes
// a batch; a missing or inconsistent index is rebuilt from the data. After
// a clean Close the scan starts at the last valid index entry (stepping back
// to a batch start); after a crash it covers the whole segment, because
// unsynced pages may have reached the disk out of order and a hole must not
// hide behind intact later batches. For
// each sealed segment Open checks the index against the file size and
// verifies the frames after the last index entry; other frames of sealed
// segments are verified lazily by Read. Damage in a sealed segment is
// reported as *CorruptionError naming the file and position, never skipped.
// Open writes the last segment's index only when it differs from the one on
// disk (otherwise it fsyncs it), so a log closed cleanly opens on a
// filesystem with no free space; an index holding entries past the data
// (a torn or refused append) is cut in place when there is no room to
// rewrite it. Truncate (TruncateAfterIndex at open) likewise cuts a
// segment in place, rather than rewriting it, when the rewrite finds no
// space and no other name links the segment's files (no checkpoint or
// snapshot holds them).
//
// # Full filesystem
//
// An AppendBatch that fails for want of space (ENOSPC, EDQUOT) returns
// ErrNoSpace: nothing of the batch is published, index entries it added
// are dropped, bytes written past the published size are overwritten by
// the next append (or cut by recovery), and the log stays writable, so the
// caller may append the same batch again and it gets the same offsets.
// Any other write error, and any failed fsync, leaves the log failed.
//
// # File descriptors
//
// Segment files are not held open: every .log and .idx file is opened on
// use through a FileCache (Config.Files, one per node) that keeps idle files
// open in a least-recently-used list bounded by MaxOpen (default half of
// RLIMIT_NOFILE) and closes the oldest when it needs room. So the number of
// logs, partitions and segments a node holds is bounded by disk, not by
// descriptors, and a follower cannot run out of them because of what
// clients created. Files in use are never closed; the bound is soft (it is
// exceeded, briefly, only when every cached file is in use at once) and an
// open that fails with EMFILE closes every idle file and tries once more.
// Closing a file loses nothing: unsynced pages stay in the page cache and a
// later fdatasync through a new descriptor flushes them. Sync remembers the
// size it last made durable and opens nothing for an idle log; after a
// clean Close the reopened log knows its active segment is synced.
//
// A segment's refcount keeps its handles alive while readers use them;
// a handle is retired (never reopened by path) before DeleteBefore or
// Truncate removes or replaces its file. A reader that then still has the
// descriptor reads the original file; one whose descriptor was evicted
// gets errGone, waits for the writer lock (the removal publishes its new
// segment list under it) and looks at the log again, so it sees an
// *OutOfRangeError or the records, never a replacement file's bytes.
//
// Checkpoint hard-links sealed segments into another directory; Truncate
// therefore rewrites a segment into a new file (by rename) rather than
// cutting it in place, so that a checkpoint never changes.
//
// # File system
//
// Every file and directory call goes through Config.FS, an internal/vfs.FS;
// nil is the operating system (vfs.Default), whose files are *os.File, so
// a node makes the same system calls (fdatasync included) as without the
// seam and appends and reads allocate nothing more. Tests pass a
// vfs.Injector to fail chosen writes, fsyncs or renames, and a vfs.MemFS
// whose CrashClone keeps only what was synced, to check the contract
// above in process: a failed append or fsync is returned and fails the
// log, and a crash keeps every batch up to the last Sync (vfs_test.go).
// A file system other than the OS's reports no link counts, so Truncate
// never cuts a segment in place there. Open and Checkpoint sync the parent
// of each directory they create, so that a crash cannot lose a log whose
// files were synced. The lose-unsynced crash of the flowmesh_faults build
// (unsynced_faults.go) still works on the OS's files only.
package segment
