package devchild_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fpemu/fpemu/internal/testkit/devchild"
	"github.com/fpemu/fpemu/sim/device"
)

// TestReadyFD: a HAL child signals readiness where the launcher waits.
func TestReadyFD(t *testing.T) {
	assert.EqualValues(t, device.HALReadyFD, devchild.ReadyFD)
}
