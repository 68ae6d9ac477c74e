// Package logentry is the frame of every FlowMesh raft log entry that
// carries commands: the leader's stamp and the commands group commit
// coalesced into one entry, in proposal order.
//
// The frame is a contract between two packages: cluster writes it (group
// commit, stamping) and the state machine in fsm reads it. It lives in this
// leaf, which imports only the standard library, so that fsm depends on the
// format and not on the consensus wrapper (and through it on raft's stores
// and memberlist). It is internal because it is FlowMesh's own stored
// format, not an API for embedders: the commands it carries are opaque here
// (fsm encodes them as fsmpb.Command) and its version is ours to evolve.
// The name says what is framed: "entry" alone would be ambiguous beside
// KV entries and segment records.
//
// # Format
//
// Stored in the raft log, so append only: never reorder or reuse a field or
// a version. Integers are big endian; uvarint is encoding/binary's.
//
//	version uint8 (=1)
//	stamp   int64   unix nanos from the leader's clock
//	count   uvarint number of commands
//	count x { length uvarint | command bytes (opaque to this package) }
//
// Decode accepts exactly what Encode writes (non-minimal varints aside) and
// returns an error matching ErrMalformed for anything else, never a panic:
// FuzzDecode checks it. Overhead and CommandSize let a writer bound an
// entry's encoded size before encoding it.
package logentry
