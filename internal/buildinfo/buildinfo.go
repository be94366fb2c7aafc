// Package buildinfo reports what a binary was built from: the main
// module's path and version, the VCS revision, its time and whether the
// work tree had uncommitted changes, and the Go toolchain — the facts
// runtime/debug.ReadBuildInfo records (the "vcs.*" settings that
// `go build` stamps from Git, see `go help buildinfo`'s -buildvcs).
//
// `fpemu version` prints it and conform's JUnit report carries it as
// <properties>, so a test result names the exact emulator that produced
// it. The package imports only the standard library and does no I/O.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Unknown is the value of a field the binary does not record (a test
// binary, or a build with -buildvcs=false or outside a Git work tree).
const Unknown = "unknown"

// Info is what a binary was built from.
type Info struct {
	// Module is the main module's path.
	Module string `json:"module"`
	// Version is the main module's version: a release tag, a pseudo-version
	// ("v0.0.0-20250101120000-abcdef123456"), or "(devel)" for a build in a
	// work tree that Go could not stamp with one.
	Version string `json:"version"`
	// Revision is the VCS commit (vcs.revision), Unknown if not recorded.
	Revision string `json:"revision"`
	// Time is the commit's time, RFC 3339 (vcs.time), "" if not recorded.
	Time string `json:"time,omitempty"`
	// Modified reports uncommitted changes in the work tree at build time
	// (vcs.modified); false when not recorded.
	Modified bool `json:"modified"`
	// GoVersion is the toolchain that built the binary.
	GoVersion string `json:"go_version"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
}

// Read returns the running binary's Info. It never fails: what the
// binary does not record is Unknown.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	return fromBuildInfo(bi, ok)
}

// fromBuildInfo is Read's pure part.
func fromBuildInfo(bi *debug.BuildInfo, ok bool) Info {
	info := Info{
		Module:    Unknown,
		Version:   Unknown,
		Revision:  Unknown,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if !ok || bi == nil {
		return info
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	if bi.Main.Path != "" {
		info.Module = bi.Main.Path
	}
	if bi.Main.Version != "" {
		info.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if s.Value != "" {
				info.Revision = s.Value
			}
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// Short is a one-word summary: the version, the first 12 digits of the
// revision and "+dirty" for a modified tree, e.g.
// "(devel) 1a2b3c4d5e6f+dirty".
func (i Info) Short() string {
	rev := i.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	s := i.Version + " " + rev
	if i.Modified {
		s += "+dirty"
	}
	return s
}

// Properties returns the Info as name/value pairs in a fixed order, for
// reports that carry key/value metadata (JUnit <properties>). Names are
// prefixed "fpemu." so they do not collide with a report's own.
func (i Info) Properties() [][2]string {
	return [][2]string{
		{"fpemu.module", i.Module},
		{"fpemu.version", i.Version},
		{"fpemu.revision", i.Revision},
		{"fpemu.modified", boolString(i.Modified)},
		{"fpemu.go_version", i.GoVersion},
		{"fpemu.platform", i.Platform},
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
