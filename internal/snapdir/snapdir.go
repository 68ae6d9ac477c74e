package snapdir

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/flowmesh/flowmesh/internal/durable"
)

const (
	magic   = "FMSD"
	version = 1

	tagFile = 'F'
	tagEnd  = 'E'

	// MaxPath is the longest relative path a stream may carry, in bytes.
	MaxPath = 4096

	headerLen  = len(magic) + 1
	trailerLen = 1 + 8 + 4
	bufSize    = 256 << 10
)

// ErrCorrupt matches every error Read returns for a malformed stream
// (bad magic, unknown version, bad path, CRC mismatch, truncation, trailing
// bytes).
var ErrCorrupt = errors.New("snapdir: corrupt stream")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// File is one regular file of a directory, as carried by a stream.
type File struct {
	Path string // relative, slash separated
	Size int64
}

// List returns the regular files under dir, sorted by Path in stream order.
// Anything other than a regular file or a directory is an error: a
// snapshot must not silently drop data.
func List(dir string) ([]File, error) {
	var files []File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("snapdir: %s is not a regular file", p)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if err := checkPath(rel); err != nil {
			return fmt.Errorf("snapdir: cannot stream %s: %v", p, err)
		}
		files = append(files, File{Path: rel, Size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

// StreamSize is the exact length of the stream Write produces for files.
func StreamSize(files []File) int64 {
	n := int64(headerLen + trailerLen)
	for _, f := range files {
		n += 1 + 2 + int64(len(f.Path)) + 8 + f.Size + 4
	}
	return n
}

// Size is the exact length of the stream Write would produce for dir now.
func Size(dir string) (int64, error) {
	files, err := List(dir)
	if err != nil {
		return 0, err
	}
	return StreamSize(files), nil
}

// Write streams every regular file under dir to w. The files must not change
// while Write runs; a file whose size changed is an error.
func Write(w io.Writer, dir string) error {
	files, err := List(dir)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, bufSize)
	sw := &sumWriter{w: bw, h: crc32.New(castagnoli)}
	var scratch [8]byte

	sw.write([]byte(magic))
	sw.write([]byte{version})
	for _, f := range files {
		sw.write([]byte{tagFile})
		binary.BigEndian.PutUint16(scratch[:2], uint16(len(f.Path)))
		sw.write(scratch[:2])
		sw.write([]byte(f.Path))
		binary.BigEndian.PutUint64(scratch[:], uint64(f.Size))
		sw.write(scratch[:])
		if sw.err != nil {
			return sw.err
		}
		sum, err := copyFile(bw, filepath.Join(dir, filepath.FromSlash(f.Path)), f.Size)
		if err != nil {
			return err
		}
		binary.BigEndian.PutUint32(scratch[:4], sum)
		sw.write(scratch[:4])
	}
	sw.write([]byte{tagEnd})
	binary.BigEndian.PutUint64(scratch[:], uint64(len(files)))
	sw.write(scratch[:])
	if sw.err != nil {
		return sw.err
	}
	binary.BigEndian.PutUint32(scratch[:4], sw.h.Sum32())
	if _, err := bw.Write(scratch[:4]); err != nil {
		return err
	}
	return bw.Flush()
}

// copyFile copies exactly size bytes of the file at p to w and returns their
// CRC32C.
func copyFile(w io.Writer, p string, size int64) (uint32, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	n, err := io.CopyN(io.MultiWriter(w, h), f, size)
	if err == io.EOF {
		return 0, fmt.Errorf("snapdir: %s shrank to %d bytes while streaming (want %d)", p, n, size)
	}
	if err != nil {
		return 0, err
	}
	var one [1]byte
	if k, _ := f.Read(one[:]); k != 0 {
		return 0, fmt.Errorf("snapdir: %s grew while streaming (want %d bytes)", p, size)
	}
	return h.Sum32(), nil
}

// sumWriter hashes what it writes and remembers the first error.
type sumWriter struct {
	w   io.Writer
	h   hash.Hash32
	err error
}

func (s *sumWriter) write(b []byte) {
	if s.err != nil {
		return
	}
	s.h.Write(b)
	_, s.err = s.w.Write(b)
}

// checkPath enforces the stream's path rules, so no stream can name a file
// outside the target directory.
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case len(p) > MaxPath:
		return fmt.Errorf("path longer than %d bytes", MaxPath)
	case strings.ContainsAny(p, "\x00\\"):
		return fmt.Errorf("path %q has a NUL or backslash", p)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is absolute", p)
	case path.Clean(p) != p:
		return fmt.Errorf("path %q is not clean", p)
	case p == "." || p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Errorf("path %q leaves the directory", p)
	case !filepath.IsLocal(filepath.FromSlash(p)):
		return fmt.Errorf("path %q is not local", p)
	}
	return nil
}

// Read decodes a stream from r into dir, which must not exist or be an empty
// directory. It verifies the header, every path and CRC and the trailer,
// requires r to end right after the trailer, and fsyncs every file and
// directory it created (and dir's parent when it created dir). On error it
// returns the error and leaves whatever it wrote: the caller removes dir.
func Read(r io.Reader, dir string) error {
	created, err := prepareDir(dir)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()

	d := &decoder{r: bufio.NewReaderSize(r, bufSize), h: crc32.New(castagnoli), root: root, dirs: map[string]bool{}}
	if err := d.decode(); err != nil {
		return err
	}
	// Deepest first is not required for durability; every created directory
	// and dir itself get an fsync.
	subdirs := make([]string, 0, len(d.dirs))
	for p := range d.dirs {
		subdirs = append(subdirs, p)
	}
	slices.Sort(subdirs)
	for _, p := range append(subdirs, ".") {
		if err := syncRootDir(root, p); err != nil {
			return err
		}
	}
	if created {
		return durable.Sync(filepath.Dir(dir))
	}
	return nil
}

// prepareDir makes sure dir is an empty directory and reports whether it
// created it.
func prepareDir(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return false, err
		}
		return true, nil
	case err != nil:
		return false, err
	case len(entries) > 0:
		return false, fmt.Errorf("snapdir: %s is not empty", dir)
	}
	return false, nil
}

type decoder struct {
	r    *bufio.Reader
	h    hash.Hash32
	root *os.Root
	dirs map[string]bool
	buf  [8]byte
}

// readFull reads n bytes (n <= 8) into d.buf, hashing them when sum is set.
func (d *decoder) readFull(n int, sum bool) ([]byte, error) {
	b := d.buf[:n]
	if _, err := io.ReadFull(d.r, b); err != nil {
		return nil, truncated(err)
	}
	if sum {
		d.h.Write(b)
	}
	return b, nil
}

func truncated(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return corrupt("truncated stream")
	}
	return err
}

func (d *decoder) decode() error {
	hdr := make([]byte, headerLen)
	if _, err := io.ReadFull(d.r, hdr); err != nil {
		return truncated(err)
	}
	d.h.Write(hdr)
	if string(hdr[:len(magic)]) != magic {
		return corrupt("bad magic %q", hdr[:len(magic)])
	}
	if hdr[len(magic)] != version {
		return corrupt("unsupported version %d", hdr[len(magic)])
	}
	var prev string
	var count uint64
	for {
		tag, err := d.readFull(1, true)
		if err != nil {
			return err
		}
		switch tag[0] {
		case tagFile:
			p, err := d.readFile(prev, count)
			if err != nil {
				return err
			}
			prev = p
			count++
		case tagEnd:
			return d.readTrailer(count)
		default:
			return corrupt("unknown tag %#x", tag[0])
		}
	}
}

func (d *decoder) readFile(prev string, count uint64) (string, error) {
	b, err := d.readFull(2, true)
	if err != nil {
		return "", err
	}
	n := int(binary.BigEndian.Uint16(b))
	if n == 0 || n > MaxPath {
		return "", corrupt("path length %d", n)
	}
	pb := make([]byte, n)
	if _, err := io.ReadFull(d.r, pb); err != nil {
		return "", truncated(err)
	}
	d.h.Write(pb)
	p := string(pb)
	if err := checkPath(p); err != nil {
		return "", corrupt("%v", err)
	}
	if count > 0 && p <= prev {
		return "", corrupt("path %q out of order after %q", p, prev)
	}
	b, err = d.readFull(8, true)
	if err != nil {
		return "", err
	}
	size := binary.BigEndian.Uint64(b)
	if size > math.MaxInt64 {
		return "", corrupt("file %q size %d", p, size)
	}
	if err := d.mkdirs(path.Dir(p)); err != nil {
		return "", err
	}
	f, err := d.root.OpenFile(filepath.FromSlash(p), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	fh := crc32.New(castagnoli)
	_, err = io.CopyN(io.MultiWriter(f, fh), d.r, int64(size))
	if err != nil {
		f.Close()
		return "", truncated(err)
	}
	b, err = d.readFull(4, true)
	if err != nil {
		f.Close()
		return "", err
	}
	if got, want := fh.Sum32(), binary.BigEndian.Uint32(b); got != want {
		f.Close()
		return "", corrupt("file %q crc %08x, stream says %08x", p, got, want)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	return p, f.Close()
}

func (d *decoder) mkdirs(dir string) error {
	if dir == "." || d.dirs[dir] {
		return nil
	}
	if err := d.root.MkdirAll(filepath.FromSlash(dir), 0o755); err != nil {
		return err
	}
	for ; dir != "."; dir = path.Dir(dir) {
		d.dirs[dir] = true
	}
	return nil
}

func (d *decoder) readTrailer(count uint64) error {
	b, err := d.readFull(8, true)
	if err != nil {
		return err
	}
	if got := binary.BigEndian.Uint64(b); got != count {
		return corrupt("trailer counts %d files, stream had %d", got, count)
	}
	want := d.h.Sum32()
	b, err = d.readFull(4, false)
	if err != nil {
		return err
	}
	if got := binary.BigEndian.Uint32(b); got != want {
		return corrupt("trailer crc %08x, computed %08x", got, want)
	}
	if _, err := d.r.ReadByte(); err != io.EOF {
		if err != nil {
			return err
		}
		return corrupt("bytes after the trailer")
	}
	return nil
}

func syncRootDir(root *os.Root, p string) error {
	f, err := root.Open(filepath.FromSlash(p))
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
