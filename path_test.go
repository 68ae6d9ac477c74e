package flowmesh_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flowmesh/flowmesh"
)

// parsePathRef is the plain statement of ParsePath's contract: three names
// separated by '/', each valid, checked in order.
func parsePathRef(path string) (string, string, string, error) {
	parts := strings.Split(path, "/")
	if len(parts) != 3 {
		return "", "", "", flowmesh.Invalid("path", "%s must be tenant/namespace/name", flowmesh.Quote(path))
	}
	for i, f := range []string{"tenant", "namespace", "name"} {
		if err := flowmesh.ValidateName(f, parts[i]); err != nil {
			return "", "", "", err
		}
	}
	return parts[0], parts[1], parts[2], nil
}

func checkParsePath(t *testing.T, p string) {
	a, b, c, err := flowmesh.ParsePath(p)
	ra, rb, rc, rerr := parsePathRef(p)
	if a != ra || b != rb || c != rc || fmt.Sprint(err) != fmt.Sprint(rerr) {
		t.Errorf("ParsePath(%q) = %q %q %q %v; want %q %q %q %v", p, a, b, c, err, ra, rb, rc, rerr)
	}
	if got := flowmesh.ValidatePath(p); fmt.Sprint(got) != fmt.Sprint(rerr) {
		t.Errorf("ValidatePath(%q) = %v, want %v", p, got, rerr)
	}
}

// ParsePath and ValidatePath accept and reject exactly what the plain
// split does, with the same error, and do not allocate for a good path.
func TestParsePath(t *testing.T) {
	for _, p := range []string{
		"t/ns/kv", "a/b/c", "t-1/n_2/x.y", "T/N/Z9",
		"", "/", "//", "///", "t", "t/ns", "t/ns/", "/ns/kv", "t//kv", "t/ns/kv/", "t/ns/kv/x",
		"-t/ns/kv", "t/.ns/kv", "t/ns/_kv", "t/n s/kv", "t/ns/k\u00e9", "t/ns/\x00",
		fmt.Sprintf("t/ns/%0*d", flowmesh.MaxNameLength, 0), fmt.Sprintf("t/ns/%0*d", flowmesh.MaxNameLength+1, 0),
		fmt.Sprintf("%0*d/ns/kv", flowmesh.MaxNameLength+1, 0),
	} {
		checkParsePath(t, p)
	}
	if n := testing.AllocsPerRun(100, func() { _ = flowmesh.ValidatePath("tenant/namespace/name") }); n != 0 {
		t.Errorf("ValidatePath of a valid path allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _, _, _ = flowmesh.ParsePath("tenant/namespace/name") }); n != 0 {
		t.Errorf("ParsePath of a valid path allocates %v times", n)
	}
}

func FuzzParsePath(f *testing.F) {
	for _, p := range []string{"t/ns/kv", "t//kv", "a/b/c/d", "-/x/y"} {
		f.Add(p)
	}
	f.Fuzz(checkParsePath)
}

func TestPartitionInfoLag(t *testing.T) {
	pi := flowmesh.PartitionInfo{Earliest: 10, Next: 25}
	for committed, want := range map[uint64]uint64{0: 15, 10: 15, 12: 13, 25: 0, 30: 0} {
		if got := pi.Lag(committed); got != want {
			t.Errorf("Lag(%d) of [10, 25) = %d, want %d", committed, got, want)
		}
	}
}
