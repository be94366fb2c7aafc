package testkit

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNeedCommand(t *testing.T) {
	for _, tc := range []struct {
		name, ci             string
		wantPath             bool
		wantSkip, wantFailed bool
	}{
		{name: "go", ci: "", wantPath: true},
		{name: "go", ci: "true", wantPath: true},
		{name: "fpemu-no-such-program", ci: "", wantSkip: true},
		{name: "fpemu-no-such-program", ci: "true", wantFailed: true},
		{name: "fpemu-no-such-program", ci: "1", wantSkip: true}, // only CI=true makes it mandatory
	} {
		t.Run(tc.name+"/CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			var r recordingTB
			p := NeedCommand(&r, tc.name, "the interop checks")
			assert.Equal(t, tc.wantPath, p != "", "path %q", p)
			assert.Equal(t, tc.wantSkip, r.skipped, "skipped")
			assert.Equal(t, tc.wantFailed, r.failed, "failed")
			if tc.wantSkip || tc.wantFailed {
				assert.Contains(t, r.reason, "fpemu-no-such-program not on PATH")
				assert.Contains(t, r.reason, "the interop checks need it")
				assert.Equal(t, tc.wantFailed, strings.Contains(r.reason, "mandatory under CI=true"))
			}
		})
	}
}

func TestUnavailable(t *testing.T) {
	t.Setenv("CI", "")
	var r recordingTB
	Unavailable(&r, "no server at %s", "/tmp/x")
	assert.True(t, r.skipped)
	assert.Equal(t, "no server at /tmp/x", r.reason)
}
