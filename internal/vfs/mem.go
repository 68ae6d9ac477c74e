package vfs

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MemFS is an in-memory FS that remembers what was synced, for crash
// tests (CrashClone). Paths are cleaned and resolved from one root; there
// are no symbolic links. It is safe for concurrent use.
type MemFS struct {
	mu   sync.Mutex
	root *memNode
}

// NewMem returns an empty MemFS whose root directory exists (and is
// durable).
func NewMem() *MemFS {
	return &MemFS{root: newDir()}
}

// memNode is a file or a directory. Guarded by MemFS.mu.
type memNode struct {
	dir bool
	// A file's contents, and those at its last Sync (nil: never synced).
	data, synced []byte
	// A directory's entries, and those at its last Sync.
	children, syncedChildren map[string]*memNode
	modTime                  time.Time
}

func newDir() *memNode {
	return &memNode{dir: true, children: map[string]*memNode{}, syncedChildren: map[string]*memNode{}}
}

func split(name string) []string {
	p := filepath.ToSlash(filepath.Clean(name))
	p = strings.Trim(p, "/")
	if p == "" || p == "." {
		return nil
	}
	return strings.Split(p, "/")
}

func pathErr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

// lookup returns the node at name (nil if absent) and its parent
// directory (nil if a parent is missing). Callers hold m.mu.
func (m *MemFS) lookup(name string) (parent, n *memNode, base string) {
	parts := split(name)
	if len(parts) == 0 {
		return nil, m.root, ""
	}
	d := m.root
	for _, p := range parts[:len(parts)-1] {
		c := d.children[p]
		if c == nil || !c.dir {
			return nil, nil, ""
		}
		d = c
	}
	base = parts[len(parts)-1]
	return d, d.children[base], base
}

// OpenFile implements FS.
func (m *MemFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	parent, n, base := m.lookup(name)
	if n == nil {
		if parent == nil || flag&os.O_CREATE == 0 {
			return nil, pathErr("open", name, fs.ErrNotExist)
		}
		n = &memNode{data: []byte{}, modTime: time.Now()}
		parent.children[base] = n
	} else if flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0 {
		return nil, pathErr("open", name, fs.ErrExist)
	}
	if n.dir && flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		return nil, pathErr("open", name, syscall.EISDIR)
	}
	if flag&os.O_TRUNC != 0 && !n.dir {
		n.data = n.data[:0:0]
	}
	return &memFile{fs: m, n: n, name: name, flag: flag}, nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, n, _ := m.lookup(name)
	if n == nil {
		return nil, pathErr("stat", name, fs.ErrNotExist)
	}
	return n.info(filepath.Base(name)), nil
}

// ReadDir implements FS.
func (m *MemFS) ReadDir(name string) ([]fs.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, n, _ := m.lookup(name)
	if n == nil {
		return nil, pathErr("readdir", name, fs.ErrNotExist)
	}
	if !n.dir {
		return nil, pathErr("readdir", name, syscall.ENOTDIR)
	}
	out := make([]fs.DirEntry, 0, len(n.children))
	for k, c := range n.children {
		out = append(out, fs.FileInfoToDirEntry(c.info(k)))
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// MkdirAll implements FS.
func (m *MemFS) MkdirAll(name string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.root
	for _, p := range split(name) {
		c := d.children[p]
		if c == nil {
			c = newDir()
			d.children[p] = c
		} else if !c.dir {
			return pathErr("mkdir", name, syscall.ENOTDIR)
		}
		d = c
	}
	return nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parent, n, base := m.lookup(name)
	if n == nil || parent == nil {
		return pathErr("remove", name, fs.ErrNotExist)
	}
	if n.dir && len(n.children) > 0 {
		return pathErr("remove", name, syscall.ENOTEMPTY)
	}
	delete(parent.children, base)
	return nil
}

// RemoveAll implements FS.
func (m *MemFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parent, n, base := m.lookup(name)
	if n != nil && parent != nil {
		delete(parent.children, base)
	}
	return nil
}

// Rename implements FS.
func (m *MemFS) Rename(oldpath, newpath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	op, n, ob := m.lookup(oldpath)
	if n == nil || op == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrNotExist}
	}
	np, old, nb := m.lookup(newpath)
	if np == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrNotExist}
	}
	if old != nil && old.dir && (!n.dir || len(old.children) > 0) {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EEXIST}
	}
	delete(op.children, ob)
	np.children[nb] = n
	return nil
}

// Link implements FS.
func (m *MemFS) Link(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, n, _ := m.lookup(oldname)
	np, old, nb := m.lookup(newname)
	switch {
	case n == nil || np == nil:
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: fs.ErrNotExist}
	case n.dir:
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EPERM}
	case old != nil:
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: fs.ErrExist}
	}
	np.children[nb] = n
	return nil
}

// Truncate implements FS.
func (m *MemFS) Truncate(name string, size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, n, _ := m.lookup(name)
	if n == nil {
		return pathErr("truncate", name, fs.ErrNotExist)
	}
	n.truncate(size)
	return nil
}

// CrashClone returns the file system as a crash now would leave it: every
// file holds the data of its last Sync and every directory the entries of
// its last Sync (package doc, "Crash model"). m is unchanged.
func (m *MemFS) CrashClone() *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[*memNode]*memNode{}
	var clone func(n *memNode) *memNode
	clone = func(n *memNode) *memNode {
		if c, ok := seen[n]; ok {
			return c
		}
		c := &memNode{dir: n.dir, modTime: n.modTime}
		seen[n] = c
		if n.dir {
			c.children = make(map[string]*memNode, len(n.syncedChildren))
			for k, child := range n.syncedChildren {
				c.children[k] = clone(child)
			}
			c.syncedChildren = maps(c.children)
			return c
		}
		c.data = slices.Clone(n.synced)
		if c.data == nil {
			c.data = []byte{}
		}
		c.synced = slices.Clone(c.data)
		return c
	}
	return &MemFS{root: clone(m.root)}
}

func maps(m map[string]*memNode) map[string]*memNode {
	out := make(map[string]*memNode, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (n *memNode) truncate(size int64) {
	if int64(len(n.data)) >= size {
		n.data = n.data[:size:size]
		return
	}
	n.data = append(n.data, make([]byte, size-int64(len(n.data)))...)
	n.modTime = time.Now()
}

func (n *memNode) info(name string) fs.FileInfo {
	return memInfo{name: name, size: int64(len(n.data)), dir: n.dir, mod: n.modTime}
}

type memInfo struct {
	name string
	size int64
	dir  bool
	mod  time.Time
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i memInfo) ModTime() time.Time { return i.mod }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }

// memFile is an open MemFS file. Data is shared by every descriptor and
// name of the node, as with a real file.
type memFile struct {
	fs     *MemFS
	n      *memNode
	name   string
	flag   int
	pos    int64
	closed bool
}

func (f *memFile) check(write bool) error {
	if f.closed {
		return pathErr("use", f.name, fs.ErrClosed)
	}
	if write && f.flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		return pathErr("write", f.name, syscall.EBADF)
	}
	return nil
}

func (f *memFile) Read(b []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(false); err != nil {
		return 0, err
	}
	n, err := f.readAt(b, f.pos)
	f.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (f *memFile) ReadAt(b []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(false); err != nil {
		return 0, err
	}
	return f.readAt(b, off)
}

func (f *memFile) readAt(b []byte, off int64) (int, error) {
	if f.n.dir {
		return 0, pathErr("read", f.name, syscall.EISDIR)
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(b, f.n.data[off:])
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(b []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(true); err != nil {
		return 0, err
	}
	if f.flag&os.O_APPEND != 0 {
		f.pos = int64(len(f.n.data))
	}
	n := f.writeAt(b, f.pos)
	f.pos += int64(n)
	return n, nil
}

func (f *memFile) WriteAt(b []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(true); err != nil {
		return 0, err
	}
	return f.writeAt(b, off), nil
}

func (f *memFile) writeAt(b []byte, off int64) int {
	if end := off + int64(len(b)); end > int64(len(f.n.data)) {
		f.n.truncate(end)
	}
	copy(f.n.data[off:], b)
	f.n.modTime = time.Now()
	return len(b)
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(false); err != nil {
		return err
	}
	f.closed = true
	return nil
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(false); err != nil {
		return nil, err
	}
	return f.n.info(filepath.Base(f.name)), nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(false); err != nil {
		return err
	}
	if f.n.dir {
		f.n.syncedChildren = maps(f.n.children)
		return nil
	}
	f.n.synced = slices.Clone(f.n.data)
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(true); err != nil {
		return err
	}
	f.n.truncate(size)
	return nil
}
