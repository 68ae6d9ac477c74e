package flowmesh_test

import (
	"bytes"
	"os"
	"os/exec"
	"path"
	"strings"
	"testing"
)

// maxTrackedBytes bounds a tracked file: build outputs and data stay out of
// the repository (test fixtures are kilobytes).
const maxTrackedBytes = 1 << 20

// TestNoBuildOutputsTracked checks the repository itself: no tracked file
// is an executable or over maxTrackedBytes, no tracked file is one
// .gitignore ignores, and .gitignore ignores the binary of every main
// package wherever go build writes it (its directory or the root) and the
// test binaries and bin/ directories anywhere. It needs git and a checkout.
func TestNoBuildOutputsTracked(t *testing.T) {
	git := func(args ...string) ([]byte, error) {
		return exec.Command("git", args...).Output()
	}
	if _, err := git("rev-parse", "--is-inside-work-tree"); err != nil {
		t.Skip("not a git checkout (or no git):", err)
	}
	out, err := git("ls-files", "-z")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		fi, err := os.Lstat(f)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree, or a symlink
		}
		if fi.Size() > maxTrackedBytes {
			t.Errorf("%s is tracked and %d bytes (over %d)", f, fi.Size(), maxTrackedBytes)
		}
		head := make([]byte, 4)
		if r, err := os.Open(f); err == nil {
			n, _ := r.Read(head)
			r.Close()
			head = head[:n]
		}
		for _, magic := range [][]byte{{0x7f, 'E', 'L', 'F'}, {0xcf, 0xfa, 0xed, 0xfe}, {0xce, 0xfa, 0xed, 0xfe}, []byte("MZ")} {
			if bytes.HasPrefix(head, magic) {
				t.Errorf("%s is tracked and is an executable", f)
			}
		}
	}
	if out, err := git("ls-files", "-ci", "--exclude-standard"); err != nil || len(out) > 0 {
		t.Errorf("tracked files that .gitignore ignores (%v):\n%s", err, out)
	}

	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH")
	}
	mains, err := exec.Command(goTool, "list", "-f", `{{if eq .Name "main"}}{{.Dir}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	outputs := []string{"bin/x", "deploy/bin/x", "x.test", "rpc/rpc.test", "cpu.prof"}
	for _, dir := range strings.Fields(string(mains)) {
		rel := strings.TrimPrefix(strings.TrimPrefix(dir, wd), "/")
		name := path.Base(rel)
		outputs = append(outputs, path.Join(rel, name))
		if fi, err := os.Stat(name); err != nil || !fi.IsDir() {
			outputs = append(outputs, name) // go build at the root (not over a directory)
		}
		// The package's own sources stay visible.
		if out, err := git("check-ignore", "--no-index", path.Join(rel, "main.go")); err == nil {
			t.Errorf(".gitignore ignores a main package's source: %s", out)
		}
	}
	for _, o := range outputs {
		if _, err := git("check-ignore", "-q", "--no-index", o); err != nil {
			t.Errorf(".gitignore does not ignore the build output %s", o)
		}
	}
}
