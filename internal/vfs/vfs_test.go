package vfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func write(t *testing.T, fsys FS, path, data string, sync bool) {
	t.Helper()
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func contents(t *testing.T, fsys FS, path string) (string, bool) {
	t.Helper()
	b, err := ReadFile(fsys, path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

func TestDefaultFilesAreOSFiles(t *testing.T) {
	f, err := Default.OpenFile(filepath.Join(t.TempDir(), "x"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := f.(*os.File); !ok {
		t.Fatalf("Default.OpenFile returned %T, want *os.File (no wrapper on the production path)", f)
	}
	if _, err := Default.OpenFile(filepath.Join(t.TempDir(), "missing"), os.O_RDONLY, 0); err == nil {
		t.Fatal("opening a missing file succeeded")
	} else if f, _ := Default.OpenFile("/nonexistent/x", os.O_RDONLY, 0); f != nil {
		t.Fatalf("failed open returned a non-nil File %v", f)
	}
}

func TestCrashCloneKeepsOnlySynced(t *testing.T) {
	m := NewMem()
	if err := MkdirAll(m, "/d/sub", 0o755); err != nil { // syncs / and /d
		t.Fatal(err)
	}
	write(t, m, "/d/synced", "durable", true)
	write(t, m, "/d/unsynced", "lost", false)
	if err := Sync(m, "/d"); err != nil {
		t.Fatal(err)
	}
	write(t, m, "/d/after-dir-sync", "entry lost", true)
	// Appending after a sync: the tail is lost, the synced prefix is kept.
	f, _ := m.OpenFile("/d/synced", os.O_RDWR, 0)
	f.WriteAt([]byte("+tail"), 7)
	f.Close()
	if err := m.Link("/d/synced", "/d/sub/link"); err != nil {
		t.Fatal(err)
	}
	if err := Sync(m, "/d/sub"); err != nil {
		t.Fatal(err)
	}
	if err := m.MkdirAll("/d/newdir", 0o755); err != nil { // FS.MkdirAll does not sync
		t.Fatal(err)
	}

	c := m.CrashClone()
	for _, tc := range []struct {
		path   string
		want   string
		exists bool
	}{
		{"/d/synced", "durable", true},
		{"/d/sub/link", "durable", true},
		{"/d/unsynced", "", true}, // entry synced, data never
		{"/d/after-dir-sync", "", false},
	} {
		got, ok := contents(t, c, tc.path)
		if ok != tc.exists || got != tc.want {
			t.Errorf("%s after crash: %q (exists %v), want %q (exists %v)", tc.path, got, ok, tc.want, tc.exists)
		}
	}
	if _, err := c.Stat("/d/newdir"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unsynced directory survived the crash: %v", err)
	}
	// The original is untouched, and the clone's links still share a file.
	if got, _ := contents(t, m, "/d/synced"); got != "durable+tail" {
		t.Errorf("original changed by CrashClone: %q", got)
	}
	f, _ = c.OpenFile("/d/synced", os.O_RDWR, 0)
	f.WriteAt([]byte("D"), 0)
	f.Close()
	if got, _ := contents(t, c, "/d/sub/link"); got != "Durable" {
		t.Errorf("hard link in the clone reads %q, want the shared file's %q", got, "Durable")
	}
}

func TestCrashCloneRenameNeedsDirSync(t *testing.T) {
	m := NewMem()
	MkdirAll(m, "/d", 0o755)
	write(t, m, "/d/f", "old", true)
	Sync(m, "/d")
	// WriteFile replaces atomically and durably.
	if err := WriteFile(m, "/d/f", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got, _ := contents(t, m.CrashClone(), "/d/f"); got != "new" {
		t.Fatalf("after WriteFile and a crash: %q, want new", got)
	}
	// A rename not followed by a directory sync is undone by a crash.
	write(t, m, "/d/f.tmp", "newer", true)
	if err := m.Rename("/d/f.tmp", "/d/f"); err != nil {
		t.Fatal(err)
	}
	c := m.CrashClone()
	if got, _ := contents(t, c, "/d/f"); got != "new" {
		t.Fatalf("unsynced rename survived a crash: %q", got)
	}
	if _, ok := contents(t, c, "/d/f.tmp"); ok {
		t.Fatalf("f.tmp was created without a directory sync yet survived")
	}
}

func TestInjectorFailsTheNthMatchingCall(t *testing.T) {
	inj := Inject(NewMem())
	fired := inj.Fail(Rule{Op: OpWrite, Match: func(p string) bool { return strings.HasSuffix(p, ".log") }, Nth: 2, Err: syscall.EIO})
	f, err := inj.OpenFile("/a.log", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := inj.OpenFile("/a.idx", os.O_RDWR|os.O_CREATE, 0o644)
	for i, tc := range []struct {
		f       File
		wantErr bool
	}{{f, false}, {g, false}, {f, true}, {g, false}, {f, false}} {
		_, err := tc.f.WriteAt([]byte("x"), int64(i))
		var ie *InjectedError
		if got := errors.As(err, &ie); got != tc.wantErr {
			t.Fatalf("write %d: err %v, want injected %v", i, err, tc.wantErr)
		}
		if tc.wantErr && (ie.Op != OpWrite || ie.Path != "/a.log" || !errors.Is(err, syscall.EIO)) {
			t.Fatalf("write %d: %+v, want write of /a.log wrapping EIO", i, ie)
		}
	}
	if fired() != 1 {
		t.Fatalf("rule fired %d times, want 1", fired())
	}
	if fi, _ := f.Stat(); fi.Size() != 5 {
		t.Fatalf("a.log is %d bytes; the failed write must write nothing (want 5: offsets 0 and 4)", fi.Size())
	}

	inj.Fail(Rule{Op: OpSync | OpRename, Times: -1})
	if err := f.Sync(); err == nil {
		t.Fatal("Sync succeeded under an every-sync rule")
	}
	if err := inj.Rename("/a.log", "/b.log"); err == nil {
		t.Fatal("Rename succeeded under an every-rename rule")
	}
	if _, err := inj.Stat("/a.log"); err != nil {
		t.Fatalf("failed rename moved the file: %v", err)
	}
	inj.Reset()
	if err := f.Sync(); err != nil {
		t.Fatalf("Sync after Reset: %v", err)
	}
}

// The OS and MemFS agree on the calls the storage packages rely on.
func TestMemFSBehavesLikeOS(t *testing.T) {
	for name, setup := range map[string]func(t *testing.T) (FS, string){
		"os":  func(t *testing.T) (FS, string) { return Default, t.TempDir() },
		"mem": func(t *testing.T) (FS, string) { return NewMem(), "/root" },
	} {
		t.Run(name, func(t *testing.T) {
			fsys, root := setup(t)
			if err := fsys.MkdirAll(filepath.Join(root, "a", "b"), 0o755); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(root, "a", "f")
			write(t, fsys, p, "hello world", false)
			if err := fsys.Truncate(p, 5); err != nil {
				t.Fatal(err)
			}
			if got, _ := contents(t, fsys, p); got != "hello" {
				t.Fatalf("after Truncate: %q", got)
			}
			f, _ := fsys.OpenFile(p, os.O_RDONLY, 0)
			buf := make([]byte, 10)
			n, err := f.ReadAt(buf, 2)
			if n != 3 || err == nil {
				t.Fatalf("short ReadAt = %d, %v; want 3 and io.EOF", n, err)
			}
			if _, err := f.Write([]byte("x")); err == nil {
				t.Fatal("write to a read-only file succeeded")
			}
			f.Close()
			ents, err := fsys.ReadDir(filepath.Join(root, "a"))
			if err != nil || len(ents) != 2 || ents[0].Name() != "b" || !ents[0].IsDir() || ents[1].Name() != "f" || !ents[1].Type().IsRegular() {
				t.Fatalf("ReadDir = %v, %v", ents, err)
			}
			if err := fsys.Remove(filepath.Join(root, "a")); err == nil {
				t.Fatal("Remove of a non-empty directory succeeded")
			}
			if err := fsys.Rename(p, filepath.Join(root, "a", "b", "g")); err != nil {
				t.Fatal(err)
			}
			if _, err := fsys.Stat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Stat of renamed-away file: %v", err)
			}
			if err := fsys.RemoveAll(filepath.Join(root, "a")); err != nil {
				t.Fatal(err)
			}
			if err := fsys.RemoveAll(filepath.Join(root, "a")); err != nil {
				t.Fatalf("RemoveAll of a missing path: %v", err)
			}
			if _, err := fsys.OpenFile(filepath.Join(root, "missing", "x"), os.O_RDWR|os.O_CREATE, 0o644); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("create in a missing directory: %v", err)
			}
		})
	}
}
