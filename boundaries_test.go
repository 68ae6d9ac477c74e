package flowmesh_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPackageBoundaries keeps the dependency edges the packages' doc.go
// files describe: the state machine depends on the log entry frame
// (internal/logentry), not on the consensus wrapper and its stores; the gRPC
// server reaches raft only through storage's operations. It asks the go tool
// for each package's transitive imports (test files excluded).
func TestPackageBoundaries(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH")
	}
	for _, tc := range []struct {
		pkg       string
		forbidden []string
	}{
		{"./fsm", []string{
			"github.com/flowmesh/flowmesh/cluster",
			"github.com/hashicorp/memberlist",
		}},
		{"./rpc", []string{
			"github.com/flowmesh/flowmesh/cluster",
			"github.com/hashicorp/raft",
		}},
	} {
		out, err := exec.Command(goTool, "list", "-deps", tc.pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", tc.pkg, err)
		}
		deps := strings.Fields(string(out))
		for _, bad := range tc.forbidden {
			for _, d := range deps {
				if d == bad {
					t.Errorf("%s depends on %s", tc.pkg, bad)
				}
			}
		}
	}
}
