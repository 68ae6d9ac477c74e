package segment

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// copyDir copies the regular files of src into a new temp dir.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// buildLog writes n single records, then one batch of batch records, closes
// the log and returns its dir, the active file, and the file size before the
// final Append call.
func buildLog(t *testing.T, n, batch uint64) (dir, active string, before int64) {
	t.Helper()
	dir = t.TempDir()
	cfg := testConfig()
	cfg.SegmentMaxSize = 1500
	l := openLog(t, dir, cfg)
	appendN(t, l, 0, n)
	segs := l.Segments()
	last := segs[len(segs)-1]
	before = last.Size
	if batch > 0 {
		var rs []Record
		for i := n; i < n+batch; i++ {
			rs = append(rs, rec(i))
		}
		if _, err := l.AppendBatch(rs); err != nil {
			t.Fatal(err)
		}
	}
	segs = l.Segments()
	if segs[len(segs)-1].BaseOffset != last.BaseOffset {
		t.Fatalf("test setup: final append rolled the segment")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, last.Path, before
}

func TestRecoverTornTail(t *testing.T) {
	tests := []struct {
		name     string
		n, batch uint64
	}{
		{"single record", 39, 1},
		{"batch", 34, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, active, before := buildLog(t, tt.n, tt.batch)
			fi, err := os.Stat(active)
			if err != nil {
				t.Fatal(err)
			}
			for cut := before; cut <= fi.Size(); cut++ {
				want := tt.n
				if cut == fi.Size() {
					want = tt.n + tt.batch
				}
				d := copyDir(t, dir)
				if err := os.Truncate(filepath.Join(d, filepath.Base(active)), cut); err != nil {
					t.Fatal(err)
				}
				l, err := Open(d, testConfig())
				if err != nil {
					t.Fatalf("cut at %d: Open: %v", cut, err)
				}
				checkRange(t, l, 0, want)
				if got := l.LastIndex(); got != rec(want-1).Index {
					t.Fatalf("cut at %d: LastIndex = %d, want %d", cut, got, rec(want-1).Index)
				}
				// The cut tail must not come back, and appends continue.
				appendN(t, l, want, 2)
				l.Close()
				l = openLog(t, d, testConfig())
				checkRange(t, l, 0, want+2)
				l.Close()
			}
		})
	}
}

func TestRecoverBitFlips(t *testing.T) {
	dir, active, before := buildLog(t, 29, 3)
	fi, err := os.Stat(active)
	if err != nil {
		t.Fatal(err)
	}
	for pos := before; pos < fi.Size(); pos++ {
		d := copyDir(t, dir)
		p := filepath.Join(d, filepath.Base(active))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[pos] ^= 1 << (pos % 8)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Open(d, testConfig())
		if err != nil {
			t.Fatalf("flip at %d: Open: %v", pos, err)
		}
		checkRange(t, l, 0, 29)
		l.Close()
	}
}

func TestRecoverDamagedIndex(t *testing.T) {
	dir, _, _ := buildLog(t, 40, 0)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if filepath.Ext(e.Name()) != idxSuffix {
			continue
		}
		for _, damage := range []func([]byte) []byte{
			func(b []byte) []byte { return b[:len(b)-3] },
			func(b []byte) []byte { return append(b, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 1) },
			func(b []byte) []byte {
				if len(b) > 8 {
					b[len(b)-1] ^= 0x10
				}
				return b
			},
		} {
			d := copyDir(t, dir)
			p := filepath.Join(d, e.Name())
			b, _ := os.ReadFile(p)
			os.WriteFile(p, damage(b), 0o644)
			l := openLog(t, d, testConfig())
			checkRange(t, l, 0, 40)
			l.Close()
		}
	}
}

func TestSealedCorruption(t *testing.T) {
	dir, _, _ := buildLog(t, 40, 0)
	sealed := filepath.Join(dir, segmentName(0)+logSuffix)
	second := int64(len(EncodeRecord(nil, &Record{Key: rec(0).Key, Headers: rec(0).Headers, Payload: rec(0).Payload})))
	fi, err := os.Stat(sealed)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		damage   func(b []byte) []byte
		lazy     bool // detected by Read rather than Open
		wantFrom int64
	}{
		{"flip in last frame", func(b []byte) []byte { b[len(b)-2] ^= 4; return b }, false, -1},
		{"truncated", func(b []byte) []byte { return b[:len(b)-5] }, false, -1},
		{"extended", func(b []byte) []byte { return append(b, 1, 2, 3) }, false, -1},
		{"flip in second frame", func(b []byte) []byte { b[second+12] ^= 1; return b }, true, second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := copyDir(t, dir)
			p := filepath.Join(d, filepath.Base(sealed))
			b, _ := os.ReadFile(p)
			if int64(len(b)) != fi.Size() {
				t.Fatal("test setup")
			}
			os.WriteFile(p, tt.damage(b), 0o644)
			l, err := Open(d, testConfig())
			if !tt.lazy {
				var ce *CorruptionError
				if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.File != p {
					t.Fatalf("Open err = %v, want *CorruptionError naming %s", err, p)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer l.Close()
			_, err = l.Read(0, 0, 0)
			var ce *CorruptionError
			if !errors.As(err, &ce) || ce.File != p || ce.Position != tt.wantFrom {
				t.Fatalf("Read err = %v, want *CorruptionError naming %s at %d", err, p, tt.wantFrom)
			}
		})
	}
}

// TestRecoverHoleAfterCrash: after an unclean shutdown a damaged frame
// before intact later ones must cut the log there, not hide behind them.
func TestRecoverHoleAfterCrash(t *testing.T) {
	tests := []struct {
		name  string
		clean bool
		want  uint64
	}{
		{"crash", false, 31},
		{"clean close", true, 40}, // only the tail is verified; Read finds it
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, active, _ := buildLog(t, 40, 0)
			l := openLog(t, dir, testConfig())
			segs := l.segments()
			if segs[len(segs)-1].base > 31 {
				t.Fatal("test setup: offset 31 is not in the active segment")
			}
			_, pos, _, _, err := segs[len(segs)-1].find(func(r *Record) bool { return r.Offset == 31 })
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
			if !tt.clean {
				if err := os.Remove(filepath.Join(dir, cleanMarker)); err != nil {
					t.Fatal(err)
				}
			}
			b, _ := os.ReadFile(active)
			clear(b[pos+4 : pos+20])
			os.WriteFile(active, b, 0o644)
			l = openLog(t, dir, testConfig())
			if got := l.NextOffset(); got != tt.want {
				t.Fatalf("NextOffset = %d, want %d", got, tt.want)
			}
			if tt.clean {
				_, err := l.Read(31, 1, 0)
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Read(31) err = %v, want ErrCorrupt", err)
				}
				return
			}
			checkRange(t, l, 0, 31)
		})
	}
}
