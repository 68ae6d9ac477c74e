package flowmeshtest

import (
	"strings"
	"testing"

	"github.com/flowmesh/flowmesh"
)

// Subtests name their tenants after themselves; every such name must be a
// valid tenant, and distinct subtests must get distinct tenants.
func TestScopeNamesAreValid(t *testing.T) {
	names := []string{
		"plain",
		"With Spaces and CAPS",
		"caf\u00e9/\u00fcber",
		"-leading-dash",
		strings.Repeat("long", 40),
		strings.Repeat("long", 40) + "x",
		"#01",
	}
	seen := map[string]string{}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			tenant, ns := scope(t)
			for _, n := range []string{tenant, ns, tenant + "-x", tenant + "-none", tenant + "2"} {
				if err := flowmesh.ValidateName("tenant", n); err != nil {
					t.Errorf("scope of %q gives %q: %v", t.Name(), n, err)
				}
			}
			if prev, dup := seen[tenant]; dup {
				t.Errorf("subtests %q and %q share tenant %q", prev, t.Name(), tenant)
			}
			seen[tenant] = t.Name()
		})
	}
}
