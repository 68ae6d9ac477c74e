// Package snapdir encodes a directory tree of regular files as one byte
// stream and decodes it back, verifying every byte. Raft snapshots travel in
// this format: the snapshot store streams a snapshot directory to a follower
// (or to FSM.Restore) with Write, and a follower decodes the stream into a
// fresh directory with Read.
//
// # Stream format (version 1)
//
// Stored on disk and sent between nodes: fields are append only, never
// reorder; a new layout takes a new version byte. Integers are big endian.
//
//	header  magic "FMSD" | version uint8 (=1)
//	file    tag 'F' | pathLen uint16 | path | size uint64 | data[size] | crc32c(data) uint32
//	...     (zero or more files, paths strictly increasing in byte order)
//	trailer tag 'E' | fileCount uint64 | crc32c(stream minus file data) uint32
//
// Paths are slash separated, relative, clean, without "." or ".." elements,
// and at most MaxPath bytes. Directories are implied by the file paths;
// empty directories, permissions, owners and times are not carried. The
// stream ends right after the trailer: trailing bytes are an error.
//
// The trailer CRC covers every byte before it except file data, which the
// per-file CRCs cover, so each data byte is hashed once. The per-file CRC
// follows the data, so Write computes it while streaming and
// the length of a stream depends only on the paths and sizes (see Size): a
// snapshot store can report the exact size before it sends a byte.
package snapdir
