package segment

import (
	"container/list"
	"errors"
	"fmt"
	"sync"
	"syscall"

	"github.com/flowmesh/flowmesh/internal/vfs"
)

// FileCache bounds the file descriptors that segment logs hold: every
// segment file (sealed or active, data or index) is opened when used and
// kept open in a least-recently-used list of idle files, closed when the
// list would exceed MaxOpen. Share one FileCache among all the logs of a
// node (Config.Files) so that the number of logs, partitions and segments
// is not bounded by descriptors at all.
//
// MaxOpen is a soft bound: a file in use (a read or an append in progress)
// is never closed, so when every open file is in use a new one is opened
// anyway and closed as soon as it is released. In-use files are bounded by
// concurrency (a reader uses one file at a time, an appender two), not by
// how many logs exist.
type FileCache struct {
	max int

	mu        sync.Mutex
	open      int       // descriptors held: in use plus idle
	inUse     int       // handles with users > 0
	idle      list.List // of *handle; least recently used at the front
	opens     uint64
	evictions uint64
	peak      int
}

// FileStats describes a FileCache (for metrics and node status).
type FileStats struct {
	MaxOpen   int    // the budget
	Open      int    // descriptors held now
	InUse     int    // of which in use by a read, append or sync
	Peak      int    // highest Open seen
	Opens     uint64 // files opened since start
	Evictions uint64 // idle files closed to make room
}

// NewFileCache returns a cache holding at most maxOpen descriptors (soft, see
// FileCache); maxOpen <= 0 means DefaultMaxOpenFiles().
func NewFileCache(maxOpen int) *FileCache {
	if maxOpen <= 0 {
		maxOpen = DefaultMaxOpenFiles()
	}
	return &FileCache{max: maxOpen}
}

// DefaultMaxOpenFiles is half the process's RLIMIT_NOFILE soft limit (which
// the Go runtime raises to the hard limit at start), leaving the other half
// to sockets, raft and everything else; at least minDefaultOpenFiles.
func DefaultMaxOpenFiles() int {
	return max(fileLimit()/2, minDefaultOpenFiles)
}

const minDefaultOpenFiles = 16

// FileLimit is the process's RLIMIT_NOFILE soft limit (capped at 1<<20).
func FileLimit() int { return fileLimit() }

// sharedFiles is the cache of logs opened without Config.Files:
// descriptors are a process-wide resource.
var sharedFiles = sync.OnceValue(func() *FileCache { return NewFileCache(0) })

// Stats reports the cache's current state.
func (c *FileCache) Stats() FileStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return FileStats{MaxOpen: c.max, Open: c.open, InUse: c.inUse, Peak: c.peak, Opens: c.opens, Evictions: c.evictions}
}

// errGone is returned when a handle's file was removed or replaced while it
// was closed: the segment's reader must look at the log again.
var errGone = errors.New("segment: file removed")

// handle is one segment file, opened on demand through a FileCache. The
// file at path is only ever opened while the handle is not retired, so an
// open descriptor always refers to the file the segment was created with,
// even after it was unlinked or replaced by rename.
type handle struct {
	c    *FileCache
	fs   vfs.FS
	path string
	flag int

	mu      sync.Mutex // serialises opening with retire
	retired bool       // guarded by mu

	// Guarded by c.mu.
	f     vfs.File
	users int
	elem  *list.Element // in c.idle while open and unused
}

func (c *FileCache) handle(fsys vfs.FS, path string, flag int) *handle {
	return &handle{c: c, fs: fsys, path: path, flag: flag}
}

// get returns the open file, opening it if needed; every successful get
// must be paired with put. It returns errGone once the handle is retired
// and its descriptor was closed.
func (h *handle) get() (vfs.File, error) {
	if f := h.use(); f != nil {
		return f, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if f := h.use(); f != nil {
		return f, nil
	}
	if h.retired {
		return nil, errGone
	}
	c := h.c
	f, err := c.openFile(h.fs, h.path, h.flag)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	h.f, h.users = f, 1
	c.inUse++
	c.mu.Unlock()
	return f, nil
}

// use takes the open descriptor if there is one.
func (h *handle) use() vfs.File {
	c := h.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if h.f == nil {
		return nil
	}
	if h.users == 0 {
		c.inUse++
	}
	h.users++
	if h.elem != nil {
		c.idle.Remove(h.elem)
		h.elem = nil
	}
	return h.f
}

// openFile reserves a descriptor (evicting idle files) and opens path. If
// the process is out of descriptors it closes every idle file and tries
// once more, so a node sheds cached files rather than failing a write.
func (c *FileCache) openFile(fsys vfs.FS, path string, flag int) (vfs.File, error) {
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		victims := c.evictLocked(c.max - 1)
		if attempt > 0 {
			victims = append(victims, c.evictLocked(0)...)
		}
		c.open++
		c.peak = max(c.peak, c.open)
		c.mu.Unlock()
		closeFiles(victims)
		f, err := fsys.OpenFile(path, flag, 0)
		if err == nil {
			c.mu.Lock()
			c.opens++
			c.mu.Unlock()
			return f, nil
		}
		c.mu.Lock()
		c.open--
		c.mu.Unlock()
		if attempt == 0 && (errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) {
			continue
		}
		return nil, fmt.Errorf("segment: %w", err) // err names the path
	}
}

// evictLocked detaches least recently used idle files until at most keep
// descriptors are held (or none is idle) and returns them for closing.
func (c *FileCache) evictLocked(keep int) []vfs.File {
	var out []vfs.File
	for c.open > keep && c.idle.Len() > 0 {
		h := c.idle.Remove(c.idle.Front()).(*handle)
		out = append(out, h.f)
		h.f, h.elem = nil, nil
		c.open--
		c.evictions++
	}
	return out
}

func closeFiles(files []vfs.File) {
	for _, f := range files {
		f.Close() // read-only use or already synced data: nothing to report
	}
}

// put releases a get. An unused file stays open in the idle list unless
// the cache is over its budget.
func (h *handle) put() {
	c := h.c
	c.mu.Lock()
	h.users--
	if h.users > 0 {
		c.mu.Unlock()
		return
	}
	c.inUse--
	var f vfs.File
	if c.open > c.max {
		f, h.f = h.f, nil
		c.open--
		c.evictions++
	} else {
		h.elem = c.idle.PushBack(h)
	}
	c.mu.Unlock()
	if f != nil {
		f.Close()
	}
}

// retire forbids opening the path again; an open descriptor stays usable
// until close. Call it before removing or replacing the file.
func (h *handle) retire() {
	h.mu.Lock()
	h.retired = true
	h.mu.Unlock()
}

// close retires the handle and closes its descriptor. Nobody may be using
// it (the segment's refcount guarantees that).
func (h *handle) close() error {
	h.retire()
	c := h.c
	c.mu.Lock()
	f := h.f
	if f != nil {
		if h.elem != nil {
			c.idle.Remove(h.elem)
			h.elem = nil
		}
		if h.users > 0 {
			c.inUse--
			h.users = 0
		}
		h.f = nil
		c.open--
	}
	c.mu.Unlock()
	if f == nil {
		return nil
	}
	return f.Close()
}
