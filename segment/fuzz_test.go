package segment

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func FuzzDecodeRecord(f *testing.F) {
	for i := uint64(0); i < 6; i++ {
		r := rec(i)
		r.Offset = i
		f.Add(EncodeRecord(nil, &r))
	}
	f.Add([]byte{})
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, err := DecodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && err != io.ErrUnexpectedEOF {
				t.Fatalf("DecodeRecord error %v is neither ErrCorrupt nor io.ErrUnexpectedEOF", err)
			}
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("n = %d for %d bytes", n, len(b))
		}
		enc := EncodeRecord(nil, &r)
		r2, n2, err := DecodeRecord(enc)
		if err != nil || n2 != len(enc) || !sameRecord(r, r2) {
			t.Fatalf("round trip: %+v -> %+v, %v", r, r2, err)
		}
		if n == len(enc) && b[9] == enc[9] && !bytes.Equal(b[:n], enc) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func FuzzOpen(f *testing.F) {
	var good []byte
	for i := uint64(0); i < 5; i++ {
		r := rec(i)
		r.Offset = i
		good = EncodeRecord(good, &r)
	}
	f.Add(good, []byte{})
	f.Add(good[:len(good)-3], []byte{})
	f.Add(good, []byte{1, 0, 0, 0, 60, 0, 0, 0})
	f.Add([]byte("garbage"), []byte{0xff})
	f.Fuzz(func(t *testing.T, data, idx []byte) {
		dir := t.TempDir()
		name := filepath.Join(dir, segmentName(0))
		if err := os.WriteFile(name+logSuffix, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if len(idx) > 0 {
			if err := os.WriteFile(name+idxSuffix, idx, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cfg := DefaultConfig()
		cfg.IndexInterval = 16
		l, err := Open(dir, cfg)
		if err != nil {
			return
		}
		defer l.Close()
		for off := l.EarliestOffset(); off < l.NextOffset(); {
			rs, err := l.Read(off, 0, 0)
			if err != nil || len(rs) == 0 {
				t.Fatalf("Read(%d) of recovered log: %d records, %v", off, len(rs), err)
			}
			off += uint64(len(rs))
		}
		l.FindOffsetByTime(0)
		if _, err := l.Append(Record{Payload: []byte("x")}); err != nil {
			t.Fatalf("Append: %v", err)
		}
	})
}
