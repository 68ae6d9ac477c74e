package rpc

import (
	"fmt"
	"testing"

	"github.com/flowmesh/flowmesh"
)

// TestCheckPathMatchesParsePath checks that checkPath, which avoids
// ParsePath's allocation, accepts and rejects exactly what ParsePath does,
// with the same error.
func TestCheckPathMatchesParsePath(t *testing.T) {
	paths := []string{
		"t/ns/kv", "a/b/c", "t-1/n_2/x.y", "T/N/Z9",
		"", "/", "//", "///", "t", "t/ns", "t/ns/", "/ns/kv", "t//kv", "t/ns/kv/", "t/ns/kv/x",
		"-t/ns/kv", "t/.ns/kv", "t/ns/_kv", "t/n s/kv", "t/ns/k\u00e9", "t/ns/\x00",
		fmt.Sprintf("t/ns/%0*d", flowmesh.MaxNameLength, 0), fmt.Sprintf("t/ns/%0*d", flowmesh.MaxNameLength+1, 0),
		fmt.Sprintf("%0*d/ns/kv", flowmesh.MaxNameLength+1, 0),
	}
	for _, p := range paths {
		_, _, _, want := flowmesh.ParsePath(p)
		got := checkPath(p)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("checkPath(%q) = %v, ParsePath: %v", p, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = checkPath("tenant/namespace/name") }); n != 0 {
		t.Errorf("checkPath of a valid path allocates %v times", n)
	}
}

func FuzzCheckPath(f *testing.F) {
	for _, p := range []string{"t/ns/kv", "t//kv", "a/b/c/d", "-/x/y"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		_, _, _, want := flowmesh.ParsePath(p)
		if got := checkPath(p); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("checkPath(%q) = %v, ParsePath: %v", p, got, want)
		}
	})
}
