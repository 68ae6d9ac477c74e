package cluster

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/hashicorp/raft"
)

// Entry checksums of the WAL log store (walStore).

var (
	entrySumMagic = []byte{'F', 'M', 'c', '1'}
)

const entrySumLen = 8 // magic, CRC-32C

// entrySum is the CRC-32C of every field of l that the store keeps, with
// ext as its Extensions.
func entrySum(l *raft.Log, ext []byte) uint32 {
	var hdr [8 + 8 + 1 + 4 + 4 + 8 + 4 + 4]byte
	binary.BigEndian.PutUint64(hdr[0:], l.Index)
	binary.BigEndian.PutUint64(hdr[8:], l.Term)
	hdr[16] = byte(l.Type)
	binary.BigEndian.PutUint32(hdr[17:], uint32(len(l.Data)))
	binary.BigEndian.PutUint32(hdr[21:], uint32(len(ext)))
	// AppendedAt as the codec keeps it: seconds, nanoseconds, zone offset
	// (UnixNano would wrap for a flipped year).
	_, zone := l.AppendedAt.Zone()
	binary.BigEndian.PutUint64(hdr[25:], uint64(l.AppendedAt.Unix()))
	binary.BigEndian.PutUint32(hdr[33:], uint32(l.AppendedAt.Nanosecond()))
	binary.BigEndian.PutUint32(hdr[37:], uint32(zone))
	sum := crc32.Update(0, castagnoli, hdr[:])
	sum = crc32.Update(sum, castagnoli, l.Data)
	return crc32.Update(sum, castagnoli, ext)
}

// sealEntry returns the Extensions to store for l: the magic, the
// checksum, then l's own Extensions.
func sealEntry(l *raft.Log) []byte {
	out := make([]byte, entrySumLen, entrySumLen+len(l.Extensions))
	copy(out, entrySumMagic)
	binary.BigEndian.PutUint32(out[4:], entrySum(l, l.Extensions))
	return append(out, l.Extensions...)
}

// openEntry checks and strips the checksum sealEntry added to a stored l.
// An entry without one passes only if !required (written before the
// store kept checksums).
func openEntry(l *raft.Log, required bool) error {
	ext := l.Extensions
	if len(ext) < entrySumLen || !bytes.Equal(ext[:4], entrySumMagic) {
		if required {
			return fmt.Errorf("cluster: entry %d: %w (no checksum)", l.Index, errEntryChecksum)
		}
		return nil
	}
	own := ext[entrySumLen:]
	if len(own) == 0 {
		own = nil
	}
	if entrySum(l, own) != binary.BigEndian.Uint32(ext[4:]) {
		return fmt.Errorf("cluster: entry %d: %w", l.Index, errEntryChecksum)
	}
	l.Extensions = own
	return nil
}
