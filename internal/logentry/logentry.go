package logentry

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// version is the first byte of every log entry this package writes.
//
// Stored in the raft log: the layout below is append only. Never change the
// meaning of an existing version; a new layout takes a new version byte and
// Decode keeps decoding the old ones.
//
//	version uint8 (=1) | stamp int64 big endian | count uvarint |
//	count x (length uvarint | command bytes)
const version = 1

// Overhead bounds the frame bytes outside the commands: an entry of
// commands c1..cn takes at most Overhead + CommandSize(c1) + ... + CommandSize(cn).
const Overhead = 1 + 8 + binary.MaxVarintLen64

// ErrMalformed matches every error Decode returns.
var ErrMalformed = errors.New("logentry: malformed log entry")

// Entry is one raft log entry's payload: the leader's stamp and the commands
// coalesced into it by group commit, in proposal order.
type Entry struct {
	Stamp    int64 // unix nanos from the leader's clock; never decreases along the log
	Commands [][]byte
}

// Encode returns e in the log entry format.
func Encode(e Entry) []byte {
	n := Overhead
	for _, c := range e.Commands {
		n += binary.MaxVarintLen32 + len(c)
	}
	b := make([]byte, 0, n)
	b = append(b, version)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Stamp))
	b = binary.AppendUvarint(b, uint64(len(e.Commands)))
	for _, c := range e.Commands {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return b
}

// CommandSize is what a command adds to an encoded entry.
func CommandSize(cmd []byte) int {
	return uvarintLen(uint64(len(cmd))) + len(cmd)
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// Decode parses a log entry written by Encode. The commands alias b.
func Decode(b []byte) (Entry, error) {
	if len(b) < 1+8 {
		return Entry{}, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	if b[0] != version {
		return Entry{}, fmt.Errorf("%w: version %d", ErrMalformed, b[0])
	}
	e := Entry{Stamp: int64(binary.BigEndian.Uint64(b[1:9]))}
	rest := b[9:]
	count, n := binary.Uvarint(rest)
	if n <= 0 {
		return Entry{}, fmt.Errorf("%w: bad command count", ErrMalformed)
	}
	rest = rest[n:]
	// Each command takes at least one byte, which bounds the allocation.
	if count > uint64(len(rest)) {
		return Entry{}, fmt.Errorf("%w: %d commands in %d bytes", ErrMalformed, count, len(rest))
	}
	e.Commands = make([][]byte, 0, count)
	for i := uint64(0); i < count; i++ {
		l, n := binary.Uvarint(rest)
		if n <= 0 {
			return Entry{}, fmt.Errorf("%w: command %d: bad length", ErrMalformed, i)
		}
		rest = rest[n:]
		if l > uint64(len(rest)) {
			return Entry{}, fmt.Errorf("%w: command %d: %d bytes, %d left", ErrMalformed, i, l, len(rest))
		}
		e.Commands = append(e.Commands, rest[:l:l])
		rest = rest[l:]
	}
	if len(rest) != 0 {
		return Entry{}, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(rest))
	}
	return e, nil
}
