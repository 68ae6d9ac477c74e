package flowmesh_test

import (
	"errors"
	"testing"

	"github.com/flowmesh/flowmesh"
)

func TestValidateDeadLetterQueue(t *testing.T) {
	cases := []struct {
		dlq    string
		wantOK bool
	}{
		{"", true},
		{"t/ns/dead", true},
		{"t/other/dead", true},
		{"t/ns/q", false},        // itself
		{"t2/ns/dead", false},    // another tenant
		{"T/ns/dead", false},     // tenants are case-sensitive names
		{"t/ns", false},          // not a path
		{"t/ns/bad name", false}, // bad name
	}
	for _, tc := range cases {
		err := flowmesh.ValidateDeadLetterQueue("t", "ns", "q", tc.dlq)
		if tc.wantOK {
			if err != nil {
				t.Errorf("%q: %v, want nil", tc.dlq, err)
			}
			continue
		}
		var ia *flowmesh.InvalidArgumentError
		if !errors.As(err, &ia) || ia.Field != "dead_letter_queue" {
			t.Errorf("%q: %v, want an InvalidArgumentError naming dead_letter_queue", tc.dlq, err)
		}
	}
}
