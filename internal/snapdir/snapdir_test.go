package snapdir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, data := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Fatal(err)
		}
		got[f.Path] = string(b)
	}
	return got
}

func TestRoundTrip(t *testing.T) {
	want := map[string]string{
		"a.txt":           "alpha",
		"a/b":             "nested",
		"a/c/d/e.seg":     strings.Repeat("x", 300<<10),
		"empty":           "",
		"z/zz/checkpoint": "cp",
	}
	src := t.TempDir()
	writeTree(t, src, want)

	var buf bytes.Buffer
	if err := Write(&buf, src); err != nil {
		t.Fatal(err)
	}
	size, err := Size(src)
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(buf.Len()) {
		t.Fatalf("Size = %d, stream is %d bytes", size, buf.Len())
	}
	stream := buf.Bytes()

	dst := filepath.Join(t.TempDir(), "out")
	if err := Read(bytes.NewReader(stream), dst); err != nil {
		t.Fatal(err)
	}
	got := readTree(t, dst)
	if len(got) != len(want) {
		t.Fatalf("got %d files, want %d", len(got), len(want))
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s: got %d bytes, want %d", p, len(got[p]), len(w))
		}
	}

	// Re-encoding the decoded tree gives the same bytes: the format is canonical.
	var again bytes.Buffer
	if err := Write(&again, dst); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), stream) {
		t.Error("re-encoded stream differs")
	}
}

func TestEmptyDir(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir() // exists and is empty: allowed
	if err := Read(&buf, dst); err != nil {
		t.Fatal(err)
	}
}

func TestReadRejects(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{"a": "hello", "b/c": "world"})
	var buf bytes.Buffer
	if err := Write(&buf, src); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()

	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		return b
	}
	cases := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"bad magic", flip(0)},
		{"bad version", flip(4)},
		{"flipped data", flip(headerLen + 1 + 2 + 1 + 8)},
		{"flipped trailer crc", flip(len(good) - 1)},
		{"flipped count", flip(len(good) - 5)},
		{"truncated", good[:len(good)-3]},
		{"trailing bytes", append(bytes.Clone(good), 0)},
		{"traversal", handStream("../x", "evil")},
		{"absolute", handStream("/etc/x", "evil")},
		{"dot", handStream("./x", "evil")},
		{"inner dotdot", handStream("a/../../x", "evil")},
		{"backslash", handStream(`a\..\x`, "evil")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "out")
			err := Read(bytes.NewReader(tc.in), dst)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Read = %v, want ErrCorrupt", err)
			}
		})
	}

	t.Run("unsorted", func(t *testing.T) {
		in := handStream("b", "1", "a", "2")
		if err := Read(bytes.NewReader(in), filepath.Join(t.TempDir(), "out")); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Read = %v, want ErrCorrupt", err)
		}
	})
	t.Run("non-empty target", func(t *testing.T) {
		dst := t.TempDir()
		writeTree(t, dst, map[string]string{"x": "1"})
		if err := Read(bytes.NewReader(good), dst); err == nil {
			t.Fatal("Read into a non-empty dir succeeded")
		}
	})
}

// handStream encodes pairs of path, data without any path checks, so tests
// can build hostile streams.
func handStream(pairs ...string) []byte {
	var b, meta bytes.Buffer
	put := func(p []byte, data bool) {
		b.Write(p)
		if !data {
			meta.Write(p)
		}
	}
	put([]byte(magic+"\x01"), false)
	for i := 0; i < len(pairs); i += 2 {
		p, data := pairs[i], pairs[i+1]
		put([]byte{tagFile}, false)
		put(binary.BigEndian.AppendUint16(nil, uint16(len(p))), false)
		put([]byte(p), false)
		put(binary.BigEndian.AppendUint64(nil, uint64(len(data))), false)
		put([]byte(data), true)
		put(binary.BigEndian.AppendUint32(nil, crc32.Checksum([]byte(data), castagnoli)), false)
	}
	put([]byte{tagEnd}, false)
	put(binary.BigEndian.AppendUint64(nil, uint64(len(pairs)/2)), false)
	b.Write(binary.BigEndian.AppendUint32(nil, crc32.Checksum(meta.Bytes(), castagnoli)))
	return b.Bytes()
}

func TestHandStreamIsValid(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "out")
	if err := Read(bytes.NewReader(handStream("a", "1", "b/c", "2")), dst); err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, dst); got["a"] != "1" || got["b/c"] != "2" {
		t.Fatalf("got %v", got)
	}
}

func TestWriteRejectsSymlink(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{"a": "1"})
	if err := os.Symlink("a", filepath.Join(src, "link")); err != nil {
		t.Skip(err)
	}
	if err := Write(&bytes.Buffer{}, src); err == nil {
		t.Fatal("Write streamed a symlink")
	}
}

func FuzzRead(f *testing.F) {
	src := f.TempDir()
	writeTree(f, src, map[string]string{"a": "hello", "b/c": "world"})
	var buf bytes.Buffer
	if err := Write(&buf, src); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(handStream("../x", "evil"))
	f.Add(handStream("/abs", "evil"))
	f.Add(handStream("a", "1", "a/b", "2"))
	f.Add([]byte(magic + "\x01E"))
	f.Fuzz(func(t *testing.T, in []byte) {
		parent := t.TempDir()
		dst := filepath.Join(parent, "out")
		err := Read(bytes.NewReader(in), dst)
		// Whatever happened, nothing may exist outside dst.
		entries, lerr := os.ReadDir(parent)
		if lerr != nil {
			t.Fatal(lerr)
		}
		for _, e := range entries {
			if e.Name() != "out" {
				t.Fatalf("Read created %s outside the target", e.Name())
			}
		}
		if err != nil {
			return
		}
		// A stream Read accepts re-encodes to itself.
		var again bytes.Buffer
		if err := Write(&again, dst); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Bytes(), in) {
			t.Fatalf("accepted stream does not re-encode to itself")
		}
	})
}
