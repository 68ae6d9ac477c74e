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

// FuzzOpenSealed writes arbitrary bytes as a sealed segment followed by an
// empty active one starting at next: Open must fail with *CorruptionError
// or give a readable log.
func FuzzOpenSealed(f *testing.F) {
	var good []byte
	for i := uint64(0); i < 5; i++ {
		r := rec(i)
		r.Offset = i
		good = EncodeRecord(good, &r)
	}
	f.Add(good, uint8(5))
	f.Add(good, uint8(4))
	f.Add(good[:len(good)-1], uint8(5))
	f.Fuzz(func(t *testing.T, data []byte, next uint8) {
		if next == 0 {
			return
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(0)+logSuffix), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, segmentName(uint64(next))+logSuffix), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Open(dir, DefaultConfig())
		if err != nil {
			var ce *CorruptionError
			if !errors.As(err, &ce) {
				t.Fatalf("Open error %v is not a *CorruptionError", err)
			}
			return
		}
		defer l.Close()
		for off := l.EarliestOffset(); off < l.NextOffset(); {
			rs, err := l.Read(off, 0, 0)
			if err != nil {
				var ce *CorruptionError
				if !errors.As(err, &ce) {
					t.Fatalf("Read error %v is not a *CorruptionError", err)
				}
				return
			}
			if len(rs) == 0 {
				t.Fatalf("Read(%d) returned nothing before NextOffset", off)
			}
			off += uint64(len(rs))
		}
	})
}
