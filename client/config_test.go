package client

import (
	"errors"
	"strings"
	"testing"

	"github.com/flowmesh/flowmesh"
)

// TestConfigValidateEndpoints: an endpoint that is not host:port is refused
// by New with InvalidArgument naming it, before any dial (a URL used to be
// retried until the deadline and then reported as "too many colons").
func TestConfigValidateEndpoints(t *testing.T) {
	for _, tc := range []struct{ ep, want string }{
		{"http://127.0.0.1:7400", "without a scheme"},
		{"https://node:7400", "without a scheme"},
		{"127.0.0.1", "not host:port"},
		{"127.0.0.1:0", "not in 1..65535"},
		{":7400", "no host"},
		{"", "is empty"},
	} {
		_, err := New(Config{Endpoints: []string{"127.0.0.1:7400", tc.ep}})
		if !errors.Is(err, flowmesh.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("endpoint %q: New = %v, want InvalidArgument with %q", tc.ep, err, tc.want)
		}
	}
	for _, ep := range []string{"127.0.0.1:7400", "node-1.flowmesh:7400", "[::1]:7400"} {
		if err := (Config{Endpoints: []string{ep}}).Validate(); err != nil {
			t.Errorf("endpoint %q: %v", ep, err)
		}
	}
}
