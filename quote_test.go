package flowmesh_test

import (
	"strings"
	"testing"

	"github.com/flowmesh/flowmesh"
)

// TestErrorsQuoteBoundedInput: an error about a caller's input quotes a
// bounded prefix of it, however long the input.
func TestErrorsQuoteBoundedInput(t *testing.T) {
	huge := strings.Repeat("é", 1<<19) // 1 MiB, two bytes a character
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"path", flowmesh.ValidatePath(huge)},
		{"path with slashes", flowmesh.ValidatePath("t/ns/" + huge)},
		{"name", flowmesh.ValidateName("tenant", huge)},
		{"reason", flowmesh.Invalid("field", "%s", huge)},
	} {
		if tc.err == nil {
			t.Fatalf("%s: no error", tc.name)
		}
		msg := tc.err.Error()
		if len(msg) > flowmesh.MaxErrorReason+200 {
			t.Errorf("%s: message of %d bytes", tc.name, len(msg))
		}
		if !strings.Contains(msg, "é") || strings.ContainsRune(msg, '\uFFFD') {
			t.Errorf("%s: message lost the quoted prefix or cut a character: %.200s", tc.name, msg)
		}
	}
	if got := flowmesh.Quote("short"); got != `"short"` {
		t.Errorf("Quote(short) = %s", got)
	}
	if got := flowmesh.Quote(huge); !strings.HasSuffix(got, "(1048576 bytes)") {
		t.Errorf("Quote(huge) ends %q, want the input's length", got[len(got)-20:])
	}
}
