package vfs

import (
	"fmt"
	"io/fs"
	"os"
	"sync"
)

// Op names the calls Inject can fail.
type Op uint16

const (
	// OpWrite is File.Write, File.WriteAt, File.Truncate and FS.Truncate.
	OpWrite Op = 1 << iota
	// OpSync is File.Sync, of a file or a directory.
	OpSync
	// OpCreate is FS.OpenFile with O_CREATE, and FS.MkdirAll.
	OpCreate
	// OpRename is FS.Rename (matched on either path).
	OpRename
	// OpRemove is FS.Remove and FS.RemoveAll.
	OpRemove
	// OpLink is FS.Link (matched on either path).
	OpLink
)

var opNames = map[Op]string{OpWrite: "write", OpSync: "sync", OpCreate: "create", OpRename: "rename", OpRemove: "remove", OpLink: "link"}

func (o Op) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return fmt.Sprintf("Op(%d)", uint16(o))
}

// InjectedError is the error of a call an Injector failed. It wraps Err
// (when set), so that an injected syscall.ENOSPC is seen as a full disk.
type InjectedError struct {
	Op   Op
	Path string
	Err  error
}

func (e *InjectedError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("vfs: injected %s error on %s: %v", e.Op, e.Path, e.Err)
	}
	return fmt.Sprintf("vfs: injected %s error on %s", e.Op, e.Path)
}

func (e *InjectedError) Unwrap() error { return e.Err }

// Rule says which calls an Injector fails.
type Rule struct {
	Op Op // one or more Op bits
	// Match selects paths; nil matches every path.
	Match func(path string) bool
	// Nth is the first matching call to fail, counting from 1 when the
	// rule is added (0 means 1).
	Nth int
	// Times is how many matching calls fail from the Nth on (0 means 1;
	// negative: every one).
	Times int
	// Err is wrapped by the InjectedError returned.
	Err error
}

// Injector is an FS that fails the calls its rules select with an
// *InjectedError, and passes every other call to the FS it embeds. A
// failed call changes nothing: a failed write writes no byte.
type Injector struct {
	FS

	mu    sync.Mutex
	rules []*rule
}

type rule struct {
	Rule
	seen  int
	fired int
}

// Inject wraps fsys.
func Inject(fsys FS) *Injector { return &Injector{FS: fsys} }

// Fail adds r; it returns a function reporting how many calls r failed.
func (i *Injector) Fail(r Rule) (fired func() int) {
	if r.Nth <= 0 {
		r.Nth = 1
	}
	if r.Times == 0 {
		r.Times = 1
	}
	ru := &rule{Rule: r}
	i.mu.Lock()
	i.rules = append(i.rules, ru)
	i.mu.Unlock()
	return func() int {
		i.mu.Lock()
		defer i.mu.Unlock()
		return ru.fired
	}
}

// Reset drops every rule.
func (i *Injector) Reset() {
	i.mu.Lock()
	i.rules = nil
	i.mu.Unlock()
}

// check returns the injected error for a call of op on paths, if any.
func (i *Injector) check(op Op, paths ...string) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, r := range i.rules {
		if r.Op&op == 0 {
			continue
		}
		for _, p := range paths {
			if r.Match != nil && !r.Match(p) {
				continue
			}
			r.seen++
			if r.seen < r.Nth || r.Times >= 0 && r.seen >= r.Nth+r.Times {
				break
			}
			r.fired++
			return &InjectedError{Op: op, Path: p, Err: r.Err}
		}
	}
	return nil
}

// OpenFile implements FS.
func (i *Injector) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if flag&os.O_CREATE != 0 {
		if err := i.check(OpCreate, name); err != nil {
			return nil, err
		}
	}
	f, err := i.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &injectedFile{File: f, inj: i, path: name}, nil
}

// MkdirAll implements FS.
func (i *Injector) MkdirAll(name string, perm fs.FileMode) error {
	if err := i.check(OpCreate, name); err != nil {
		return err
	}
	return i.FS.MkdirAll(name, perm)
}

// Remove implements FS.
func (i *Injector) Remove(name string) error {
	if err := i.check(OpRemove, name); err != nil {
		return err
	}
	return i.FS.Remove(name)
}

// RemoveAll implements FS.
func (i *Injector) RemoveAll(name string) error {
	if err := i.check(OpRemove, name); err != nil {
		return err
	}
	return i.FS.RemoveAll(name)
}

// Rename implements FS.
func (i *Injector) Rename(oldpath, newpath string) error {
	if err := i.check(OpRename, oldpath, newpath); err != nil {
		return err
	}
	return i.FS.Rename(oldpath, newpath)
}

// Link implements FS.
func (i *Injector) Link(oldname, newname string) error {
	if err := i.check(OpLink, oldname, newname); err != nil {
		return err
	}
	return i.FS.Link(oldname, newname)
}

// Truncate implements FS.
func (i *Injector) Truncate(name string, size int64) error {
	if err := i.check(OpWrite, name); err != nil {
		return err
	}
	return i.FS.Truncate(name, size)
}

// injectedFile is a file of an Injector: it embeds the file it wraps.
type injectedFile struct {
	File
	inj  *Injector
	path string
}

func (f *injectedFile) Write(b []byte) (int, error) {
	if err := f.inj.check(OpWrite, f.path); err != nil {
		return 0, err
	}
	return f.File.Write(b)
}

func (f *injectedFile) WriteAt(b []byte, off int64) (int, error) {
	if err := f.inj.check(OpWrite, f.path); err != nil {
		return 0, err
	}
	return f.File.WriteAt(b, off)
}

func (f *injectedFile) Truncate(size int64) error {
	if err := f.inj.check(OpWrite, f.path); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *injectedFile) Sync() error {
	if err := f.inj.check(OpSync, f.path); err != nil {
		return err
	}
	return f.File.Sync()
}
