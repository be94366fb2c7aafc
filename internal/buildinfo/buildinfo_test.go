package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want Info
	}{
		{
			name: "not recorded",
			want: Info{Module: Unknown, Version: Unknown, Revision: Unknown, GoVersion: runtime.Version()},
		},
		{
			name: "stamped clean",
			ok:   true,
			bi: &debug.BuildInfo{
				GoVersion: "go1.26.0",
				Main:      debug.Module{Path: "github.com/fpemu/fpemu", Version: "v1.2.3"},
				Settings: []debug.BuildSetting{
					{Key: "vcs", Value: "git"},
					{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
					{Key: "vcs.time", Value: "2025-01-02T03:04:05Z"},
					{Key: "vcs.modified", Value: "false"},
				},
			},
			want: Info{Module: "github.com/fpemu/fpemu", Version: "v1.2.3",
				Revision: "0123456789abcdef0123456789abcdef01234567", Time: "2025-01-02T03:04:05Z", GoVersion: "go1.26.0"},
		},
		{
			name: "devel dirty",
			ok:   true,
			bi: &debug.BuildInfo{
				GoVersion: "go1.26.0",
				Main:      debug.Module{Path: "github.com/fpemu/fpemu", Version: "(devel)"},
				Settings:  []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}},
			},
			want: Info{Module: "github.com/fpemu/fpemu", Version: "(devel)", Revision: "abc", Modified: true, GoVersion: "go1.26.0"},
		},
		{
			name: "test binary: no main module",
			ok:   true,
			bi:   &debug.BuildInfo{GoVersion: "go1.26.0"},
			want: Info{Module: Unknown, Version: Unknown, Revision: Unknown, GoVersion: "go1.26.0"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.Platform = runtime.GOOS + "/" + runtime.GOARCH
			assert.Equal(t, tc.want, fromBuildInfo(tc.bi, tc.ok))
		})
	}
}

func TestShortAndProperties(t *testing.T) {
	i := Info{Module: "m", Version: "(devel)", Revision: "0123456789abcdef", Modified: true, GoVersion: "go1.26.0", Platform: "linux/amd64"}
	assert.Equal(t, "(devel) 0123456789ab+dirty", i.Short())
	i.Modified = false
	i.Revision = "abc"
	assert.Equal(t, "(devel) abc", i.Short())
	assert.Equal(t, [][2]string{
		{"fpemu.module", "m"}, {"fpemu.version", "(devel)"}, {"fpemu.revision", "abc"},
		{"fpemu.modified", "false"}, {"fpemu.go_version", "go1.26.0"}, {"fpemu.platform", "linux/amd64"},
	}, i.Properties())
}

func TestReadNeverEmpty(t *testing.T) {
	i := Read()
	assert.NotEmpty(t, i.Module)
	assert.NotEmpty(t, i.Version)
	assert.NotEmpty(t, i.Revision)
	assert.NotEmpty(t, i.GoVersion)
}
