package flowmesh_test

import (
	"errors"
	"testing"

	"github.com/flowmesh/flowmesh"
)

func TestValidateAddr(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:7402", true},
		{"node1:7402", true},
		{"[::1]:7402", true},
		{"256.1.1.1:99999", false},
		{"256.1.1.1:7402", false},
		{"127.0.0.1:0", false},
		{"127.0.0.1:x", false},
		{":7402", false},
		{"127.0.0.1", false},
		{"", false},
	} {
		err := flowmesh.ValidateAddr("addrs", tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateAddr(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
		if err != nil && !errors.Is(err, flowmesh.ErrInvalidArgument) {
			t.Errorf("ValidateAddr(%q) = %v, not an invalid argument", tc.addr, err)
		}
	}
}
