package conform

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fpemu/fpemu/internal/buildinfo"
)

// fixedBuild stands in for the test binary's build info in every report
// of this package's tests (golden files included).
var fixedBuild = buildinfo.Info{
	Module:    "github.com/fpemu/fpemu",
	Version:   "v0.0.0-test",
	Revision:  "0123456789abcdef0123456789abcdef01234567",
	Modified:  true,
	GoVersion: "go1.26.0",
	Platform:  "linux/amd64",
}

func init() { readBuildInfo = func() buildinfo.Info { return fixedBuild } }

// TestJUnitCarriesBuildInfo: every <testsuite> names the emulator that
// produced it, as `fpemu version` prints it.
func TestJUnitCarriesBuildInfo(t *testing.T) {
	doc := checkJUnit(t, sampleReport())
	want := map[string]string{
		"fpemu.module":     fixedBuild.Module,
		"fpemu.version":    fixedBuild.Version,
		"fpemu.revision":   fixedBuild.Revision,
		"fpemu.modified":   "true",
		"fpemu.go_version": fixedBuild.GoVersion,
		"fpemu.platform":   fixedBuild.Platform,
	}
	for _, s := range doc.Suites {
		got := map[string]string{}
		for _, p := range s.Properties {
			got[p.Name] = p.Value
		}
		for k, v := range want {
			assert.Equal(t, v, got[k], "suite %s property %s", s.Name, k)
		}
	}
}
