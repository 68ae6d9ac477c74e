package segment

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func testConfig() Config {
	c := DefaultConfig()
	c.IndexInterval = 64
	return c
}

func openLog(t *testing.T, dir string, cfg Config) *Log {
	t.Helper()
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// rec builds a deterministic record whose content derives from i.
func rec(i uint64) Record {
	r := Record{
		Index:     i/3 + 1,
		Timestamp: int64(i) * 1000,
		Payload:   []byte(fmt.Sprintf("payload-%d-%s", i, bytes.Repeat([]byte{byte('a' + i%26)}, int(i%40)))),
	}
	if i%2 == 0 {
		r.Key = []byte(fmt.Sprintf("key-%d", i))
	}
	if i%5 == 0 {
		r.Headers = []Header{{"h", fmt.Sprint(i)}, {"", ""}}
	}
	return r
}

func appendN(t *testing.T, l *Log, from, n uint64) {
	t.Helper()
	for i := from; i < from+n; i++ {
		off, err := l.Append(rec(i))
		if err != nil {
			t.Fatalf("Append(%d): %v", i, err)
		}
		if off != i {
			t.Fatalf("Append(%d) offset = %d, want %d", i, off, i)
		}
	}
}

func sameRecord(got, want Record) bool {
	if got.Offset != want.Offset || got.Index != want.Index || got.Timestamp != want.Timestamp ||
		!bytes.Equal(got.Key, want.Key) || !bytes.Equal(got.Payload, want.Payload) || len(got.Headers) != len(want.Headers) {
		return false
	}
	for i := range got.Headers {
		if got.Headers[i] != want.Headers[i] {
			return false
		}
	}
	return true
}

// checkRange reads [from, to) one call at a time and compares with rec.
func checkRange(t *testing.T, l *Log, from, to uint64) {
	t.Helper()
	off := from
	for off < to {
		rs, err := l.Read(off, 0, 1000)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(rs) == 0 {
			t.Fatalf("Read(%d) returned no records, want up to %d", off, to)
		}
		for _, r := range rs {
			want := rec(off)
			want.Offset = off
			if !sameRecord(r, want) {
				t.Fatalf("Read: record %d = %+v, want %+v", off, r, want)
			}
			off++
		}
	}
	if off != to {
		t.Fatalf("read up to %d, want %d", off, to)
	}
	if next := l.NextOffset(); next != to {
		t.Fatalf("NextOffset = %d, want %d", next, to)
	}
}

func wantOutOfRange(t *testing.T, err error) {
	t.Helper()
	var oe *OutOfRangeError
	if !errors.As(err, &oe) || !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("err = %v, want *OutOfRangeError", err)
	}
}
