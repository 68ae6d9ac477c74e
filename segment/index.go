package segment

import (
	"encoding/binary"
	"sort"
)

// Sparse index file (<base>.idx) layout. Append only: never change.
// A sequence of 8-byte entries, little endian:
//
//	[0:4) uint32 record offset relative to the segment's base offset
//	[4:8) uint32 byte position of that record's frame in the .log file
//
// Entries strictly increase in both fields. The first record (position 0) is
// implicit. An entry is added for the first record that starts at least
// IndexInterval bytes after the previous entry. The index is derived data: it
// is rebuilt from the .log file when missing or inconsistent.
const indexEntrySize = 8

type indexEntry struct {
	rel uint32
	pos uint32
}

func appendIndexEntry(dst []byte, e indexEntry) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, e.rel)
	return binary.LittleEndian.AppendUint32(dst, e.pos)
}

func encodeIndex(entries []indexEntry) []byte {
	b := make([]byte, 0, len(entries)*indexEntrySize)
	for _, e := range entries {
		b = appendIndexEntry(b, e)
	}
	return b
}

// parseIndex decodes an index file and checks that it is consistent with a
// data file of dataSize bytes. ok is false if the index must be rebuilt.
func parseIndex(b []byte, dataSize int64) (entries []indexEntry, ok bool) {
	if len(b)%indexEntrySize != 0 {
		return nil, false
	}
	entries = make([]indexEntry, 0, len(b)/indexEntrySize)
	var prev indexEntry
	for i := 0; i < len(b); i += indexEntrySize {
		e := indexEntry{
			rel: binary.LittleEndian.Uint32(b[i:]),
			pos: binary.LittleEndian.Uint32(b[i+4:]),
		}
		if e.rel <= prev.rel || e.pos <= prev.pos || int64(e.pos)+framePrefix+minBody > dataSize {
			return nil, false
		}
		entries = append(entries, e)
		prev = e
	}
	return entries, true
}

// lookup returns the last entry with rel <= rel (the implicit {0,0} if none).
func lookup(entries []indexEntry, rel uint64) indexEntry {
	i := sort.Search(len(entries), func(i int) bool { return uint64(entries[i].rel) > rel })
	if i == 0 {
		return indexEntry{}
	}
	return entries[i-1]
}
