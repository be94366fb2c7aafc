package testkit

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestLinksNone runs the check on this package, which by its doc imports
// nothing from fpemu but does run child processes (os/exec).
func TestLinksNone(t *testing.T) {
	tests := []struct {
		name      string
		sanity    string
		forbidden []string
		want      []string
		fatal     bool
	}{
		{"imports nothing from fpemu", "testing", []string{"github.com/fpemu/fpemu/tee", "github.com/fpemu/fpemu/sim/device"}, nil, false},
		{"a forbidden package it links", "testing", []string{"os/exec"}, []string{". links os/exec"}, false},
		{"a list without the sanity package", "github.com/fpemu/fpemu/tee", nil, []string{"sanity: go list -deps . does not hold github.com/fpemu/fpemu/tee"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() {
				t.Skip("runs go list")
			}
			var r recordingTB
			LinksNone(&r, ".", tc.sanity, tc.forbidden)
			assert.Equal(t, tc.fatal, r.failed)
			if tc.fatal {
				return
			}
			assert.Equal(t, tc.want, r.errors)
		})
	}
}
