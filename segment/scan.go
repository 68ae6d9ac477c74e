package segment

import (
	"errors"
	"io"
)

const recoveryChunk = 64 << 10

// scanner reads consecutive frames of one file with large ReadAt calls.
// With fresh set, every refill allocates a new buffer, so records returned
// earlier (which alias the buffer) stay valid; otherwise the buffer is reused.
type scanner struct {
	f        io.ReaderAt
	pos      int64 // position of the next frame
	end      int64 // bytes of the file that may be read
	chunk    int
	fresh    bool
	buf      []byte
	bufStart int64
}

// fill makes buf hold at least need bytes starting at pos.
func (sc *scanner) fill(need int) error {
	off := sc.pos - sc.bufStart
	if sc.buf != nil && off >= 0 && off+int64(need) <= int64(len(sc.buf)) {
		return nil
	}
	avail := sc.end - sc.pos
	if int64(need) > avail {
		return io.ErrUnexpectedEOF
	}
	want := int64(max(need, sc.chunk))
	want = min(want, avail)
	if sc.fresh || int64(cap(sc.buf)) < want {
		sc.buf = make([]byte, want)
	}
	sc.buf = sc.buf[:want]
	n, err := sc.f.ReadAt(sc.buf, sc.pos)
	if int64(n) < want {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		sc.buf = nil
		return err
	}
	sc.bufStart = sc.pos
	return nil
}

// next decodes the frame at pos and advances past it. It returns io.EOF at
// exactly end, io.ErrUnexpectedEOF for a frame cut by end, an error matching
// ErrCorrupt for a damaged frame, or an I/O error.
func (sc *scanner) next() (r Record, size int, flags byte, err error) {
	if sc.pos == sc.end {
		return Record{}, 0, 0, io.EOF
	}
	if err := sc.fill(framePrefix); err != nil {
		return Record{}, 0, 0, err
	}
	n, err := frameLen(sc.buf[sc.pos-sc.bufStart:])
	if err != nil {
		return Record{}, 0, 0, err
	}
	if err := sc.fill(n); err != nil {
		return Record{}, 0, 0, err
	}
	off := sc.pos - sc.bufStart
	r, n, flags, err = decodeFrame(sc.buf[off : off+int64(n)])
	if err != nil {
		return Record{}, 0, 0, err
	}
	sc.pos += int64(n)
	return r, n, flags, nil
}

// peekLen returns the length of the frame at pos if its prefix is buffered.
func (sc *scanner) peekLen() (int, bool) {
	off := sc.pos - sc.bufStart
	if sc.buf == nil || off < 0 || off+framePrefix > int64(len(sc.buf)) {
		return 0, false
	}
	n, err := frameLen(sc.buf[off:])
	return n, err == nil
}
