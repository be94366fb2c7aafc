package testkit

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
)

// recordingTB records what NeedRoot asks of its test instead of doing it.
type recordingTB struct {
	testing.TB
	skipped, failed bool
}

func (r *recordingTB) Helper()      {}
func (r *recordingTB) Skip(...any)  { r.skipped = true }
func (r *recordingTB) Fatal(...any) { r.failed = true }

func TestNeedRoot(t *testing.T) {
	root := os.Geteuid() == 0
	for _, ci := range []string{"", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			var r recordingTB
			NeedRoot(&r)
			switch {
			case root:
				assert.False(t, r.skipped || r.failed, "root runs the test")
			case ci == "true":
				assert.True(t, r.failed, "mandatory under CI=true")
			default:
				assert.True(t, r.skipped, "skipped without root")
			}
		})
	}
}
