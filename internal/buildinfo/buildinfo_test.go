package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestGet(t *testing.T) {
	rev := debug.BuildSetting{Key: "vcs.revision", Value: "0123456789abcdef0123"}
	dirty := debug.BuildSetting{Key: "vcs.modified", Value: "true"}
	for _, tc := range []struct {
		name     string
		stamped  string
		bi       *debug.BuildInfo
		want     Info
		wantLine string
	}{
		{"no build info", "", nil, Info{Version: "dev", GoVersion: runtime.Version()}, "dev (unknown revision, " + runtime.Version() + ")"},
		{"stamped wins", "v1.2.3", &debug.BuildInfo{Main: debug.Module{Version: "v9.9.9"}, Settings: []debug.BuildSetting{rev}},
			Info{Version: "v1.2.3", Revision: rev.Value, GoVersion: runtime.Version()}, "v1.2.3 (0123456789ab, " + runtime.Version() + ")"},
		{"go install version", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}},
			Info{Version: "v0.4.0", GoVersion: runtime.Version()}, "v0.4.0 (unknown revision, " + runtime.Version() + ")"},
		{"local build", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{rev, dirty}},
			Info{Version: "dev", Revision: rev.Value, Modified: true, GoVersion: runtime.Version()}, "dev (0123456789ab+dirty, " + runtime.Version() + ")"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := get(tc.stamped, tc.bi)
			if got != tc.want {
				t.Fatalf("get = %+v, want %+v", got, tc.want)
			}
			if got.String() != tc.wantLine {
				t.Fatalf("String = %q, want %q", got.String(), tc.wantLine)
			}
		})
	}
}
