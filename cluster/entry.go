package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// entryVersion is the first byte of every log entry this package writes.
//
// Stored in the raft log: the layout below is append only. Never change the
// meaning of an existing version; a new layout takes a new version byte and
// DecodeEntry keeps decoding the old ones.
//
//	version uint8 (=1) | stamp int64 big endian | count uvarint |
//	count x (length uvarint | command bytes)
const entryVersion = 1

// entryOverhead bounds the frame bytes outside the commands.
const entryOverhead = 1 + 8 + binary.MaxVarintLen64

// ErrBadEntry matches every error DecodeEntry returns.
var ErrBadEntry = errors.New("cluster: malformed log entry")

// Entry is one raft log entry's payload: the leader's stamp and the commands
// coalesced into it by group commit, in proposal order.
type Entry struct {
	Stamp    int64 // unix nanos from the leader's clock; never decreases along the log
	Commands [][]byte
}

// EncodeEntry returns e in the log entry format.
func EncodeEntry(e Entry) []byte {
	n := entryOverhead
	for _, c := range e.Commands {
		n += binary.MaxVarintLen32 + len(c)
	}
	b := make([]byte, 0, n)
	b = append(b, entryVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Stamp))
	b = binary.AppendUvarint(b, uint64(len(e.Commands)))
	for _, c := range e.Commands {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return b
}

// commandSize is what a command adds to an encoded entry.
func commandSize(cmd []byte) int {
	return uvarintLen(uint64(len(cmd))) + len(cmd)
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// DecodeEntry parses a log entry written by EncodeEntry. The commands alias b.
func DecodeEntry(b []byte) (Entry, error) {
	if len(b) < 1+8 {
		return Entry{}, fmt.Errorf("%w: %d bytes", ErrBadEntry, len(b))
	}
	if b[0] != entryVersion {
		return Entry{}, fmt.Errorf("%w: version %d", ErrBadEntry, b[0])
	}
	e := Entry{Stamp: int64(binary.BigEndian.Uint64(b[1:9]))}
	rest := b[9:]
	count, n := binary.Uvarint(rest)
	if n <= 0 {
		return Entry{}, fmt.Errorf("%w: bad command count", ErrBadEntry)
	}
	rest = rest[n:]
	// Each command takes at least one byte, which bounds the allocation.
	if count > uint64(len(rest)) {
		return Entry{}, fmt.Errorf("%w: %d commands in %d bytes", ErrBadEntry, count, len(rest))
	}
	e.Commands = make([][]byte, 0, count)
	for i := uint64(0); i < count; i++ {
		l, n := binary.Uvarint(rest)
		if n <= 0 {
			return Entry{}, fmt.Errorf("%w: command %d: bad length", ErrBadEntry, i)
		}
		rest = rest[n:]
		if l > uint64(len(rest)) {
			return Entry{}, fmt.Errorf("%w: command %d: %d bytes, %d left", ErrBadEntry, i, l, len(rest))
		}
		e.Commands = append(e.Commands, rest[:l:l])
		rest = rest[l:]
	}
	if len(rest) != 0 {
		return Entry{}, fmt.Errorf("%w: %d trailing bytes", ErrBadEntry, len(rest))
	}
	return e, nil
}
