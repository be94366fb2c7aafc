package testkit

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
)

// recordingTB records what NeedRoot, NeedCommand and LinksNone ask of their test
// instead of doing it.
type recordingTB struct {
	testing.TB
	skipped, failed bool
	reason          string // of the last Skip or Fatal
	errors          []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Skip(args ...any) { r.skipped, r.reason = true, fmt.Sprint(args...) }

func (r *recordingTB) Fatal(args ...any) { r.failed, r.reason = true, fmt.Sprint(args...) }

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed = true
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

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
