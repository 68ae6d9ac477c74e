package segment

import (
	"encoding/binary"
	"hash/crc32"
	"io"
)

// Frame layout (little endian). Append only: never change or reorder fields;
// a new layout gets a new version byte.
//
//	[0:4)   uint32 body length L (bytes after this 8-byte prefix)
//	[4:8)   uint32 CRC32C (Castagnoli) of the L body bytes
//	body:
//	[8]     version (frameVersion)
//	[9]     flags (flagBatchStart, flagBatchEnd: first and last record of
//	        an Append/AppendBatch call)
//	[10:18) uint64 offset
//	[18:26) uint64 raft index
//	[26:34) int64 timestamp (unix nanoseconds, caller-given)
//	uvarint key length, key
//	uvarint header count, then per header: uvarint len, key, uvarint len, value
//	payload: the rest of the body
const (
	frameVersion   = 1
	flagBatchEnd   = 1 << 0
	flagBatchStart = 1 << 1
	framePrefix    = 8
	fixedBody      = 1 + 1 + 8 + 8 + 8
	minBody        = fixedBody + 1 + 1
	maxFrameBody   = 1 << 30
	knownFlags     = flagBatchEnd | flagBatchStart
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// dataSize is the size checked against Config.MaxRecordSize.
func dataSize(r *Record) int {
	n := len(r.Key) + len(r.Payload)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// frameSize is the exact encoded size of r.
func frameSize(r *Record) int {
	n := framePrefix + fixedBody + uvarintLen(uint64(len(r.Key))) + len(r.Key) +
		uvarintLen(uint64(len(r.Headers))) + len(r.Payload)
	for _, h := range r.Headers {
		n += uvarintLen(uint64(len(h.Key))) + len(h.Key) + uvarintLen(uint64(len(h.Value))) + len(h.Value)
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// EncodeRecord appends the frame of r (with r.Offset as its offset, marked as
// a complete batch) to dst and returns the extended slice.
func EncodeRecord(dst []byte, r *Record) []byte {
	return encodeFrame(dst, r, r.Offset, flagBatchStart|flagBatchEnd)
}

func encodeFrame(dst []byte, r *Record, offset uint64, flags byte) []byte {
	size := frameSize(r)
	start := len(dst)
	if cap(dst)-start < size {
		grown := make([]byte, start, start+size+cap(dst))
		copy(grown, dst)
		dst = grown
	}
	dst = dst[:start+framePrefix+fixedBody]
	b := dst[start:]
	binary.LittleEndian.PutUint32(b[0:], uint32(size-framePrefix))
	b[8] = frameVersion
	b[9] = flags
	binary.LittleEndian.PutUint64(b[10:], offset)
	binary.LittleEndian.PutUint64(b[18:], r.Index)
	binary.LittleEndian.PutUint64(b[26:], uint64(r.Timestamp))
	dst = binary.AppendUvarint(dst, uint64(len(r.Key)))
	dst = append(dst, r.Key...)
	dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = binary.AppendUvarint(dst, uint64(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = binary.AppendUvarint(dst, uint64(len(h.Value)))
		dst = append(dst, h.Value...)
	}
	dst = append(dst, r.Payload...)
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(dst[start+framePrefix:], castagnoli))
	return dst
}

// DecodeRecord decodes the frame at the start of b. n is the number of bytes
// consumed. Key and Payload alias b. A short b gives io.ErrUnexpectedEOF; a
// bad length, CRC or body gives an error matching ErrCorrupt.
func DecodeRecord(b []byte) (r Record, n int, err error) {
	r, n, _, err = decodeFrame(b)
	return r, n, err
}

// frameLen returns the total frame length announced by the prefix of b.
func frameLen(b []byte) (int, error) {
	if len(b) < framePrefix {
		return 0, io.ErrUnexpectedEOF
	}
	l := binary.LittleEndian.Uint32(b)
	if l < minBody || l > maxFrameBody {
		return 0, errBadLength
	}
	return framePrefix + int(l), nil
}

func decodeFrame(b []byte) (r Record, n int, flags byte, err error) {
	n, err = frameLen(b)
	if err != nil {
		return Record{}, 0, 0, err
	}
	if len(b) < n {
		return Record{}, 0, 0, io.ErrUnexpectedEOF
	}
	body := b[framePrefix:n]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return Record{}, 0, 0, errBadCRC
	}
	if body[0] != frameVersion {
		return Record{}, 0, 0, errBadVersion
	}
	flags = body[1]
	if flags&^knownFlags != 0 {
		return Record{}, 0, 0, errBadBody
	}
	r.Offset = binary.LittleEndian.Uint64(body[2:])
	r.Index = binary.LittleEndian.Uint64(body[10:])
	r.Timestamp = int64(binary.LittleEndian.Uint64(body[18:]))
	p := body[fixedBody:]
	key, p, ok := readBytes(p)
	if !ok {
		return Record{}, 0, 0, errBadBody
	}
	if len(key) > 0 {
		r.Key = key
	}
	nh, k := binary.Uvarint(p)
	if k <= 0 || nh > uint64(len(p)-k)/2 {
		return Record{}, 0, 0, errBadBody
	}
	p = p[k:]
	if nh > 0 {
		r.Headers = make([]Header, nh)
		for i := range r.Headers {
			var hk, hv []byte
			if hk, p, ok = readBytes(p); !ok {
				return Record{}, 0, 0, errBadBody
			}
			if hv, p, ok = readBytes(p); !ok {
				return Record{}, 0, 0, errBadBody
			}
			r.Headers[i] = Header{Key: string(hk), Value: string(hv)}
		}
	}
	if len(p) > 0 {
		r.Payload = p[:len(p):len(p)]
	}
	return r, n, flags, nil
}

func readBytes(p []byte) (v, rest []byte, ok bool) {
	l, k := binary.Uvarint(p)
	if k <= 0 || l > uint64(len(p)-k) {
		return nil, nil, false
	}
	p = p[k:]
	return p[:l:l], p[l:], true
}
