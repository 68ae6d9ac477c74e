// Package buildinfo says which FlowMesh a binary is: the version stamped at
// build time, else the module version Go recorded (a `go install
// ...@v1.2.3` build), else "dev"; and the VCS revision Go recorded.
//
// Release builds stamp the version with
//
//	go build -ldflags "-X github.com/flowmesh/flowmesh/internal/buildinfo.version=v1.2.3" ./cmd/...
//
// (the Dockerfile passes FLOWMESH_VERSION). The node logs it at start, serves
// it as the flowmesh_build_info metric and gossips it into cluster status;
// `flowmesh-node --version` and `flowmesh version` print it.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set with -ldflags -X; empty: not stamped.
var version string

// Info describes a binary.
type Info struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"` // VCS commit, when Go recorded one
	Modified  bool   `json:"modified,omitempty"` // built from a tree with uncommitted changes
	GoVersion string `json:"go_version"`
}

// Get returns this binary's build information.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return get(version, bi)
}

func get(stamped string, bi *debug.BuildInfo) Info {
	in := Info{Version: stamped, GoVersion: runtime.Version()}
	if bi == nil {
		if in.Version == "" {
			in.Version = "dev"
		}
		return in
	}
	if in.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		in.Version = bi.Main.Version
	}
	if in.Version == "" {
		in.Version = "dev"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// Version is Get().Version.
func Version() string { return Get().Version }

// String is one line: version, short revision (with "+dirty" when
// modified) and Go version.
func (in Info) String() string {
	rev := in.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		rev = "unknown revision"
	} else if in.Modified {
		rev += "+dirty"
	}
	return fmt.Sprintf("%s (%s, %s)", in.Version, rev, in.GoVersion)
}
