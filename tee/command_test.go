package tee

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestCommandName: a known code is its table name, an unknown one the TA's
// prefix and the code in hex.
func TestCommandName(t *testing.T) {
	type cmd uint32
	names := map[cmd]string{0: "ENROLL", 0x1000: "SET_AUTH_TOKEN_KEY"}
	assert.Equal(t, "ENROLL", CommandName("gatekeeper", names, 0))
	assert.Equal(t, "SET_AUTH_TOKEN_KEY", CommandName("gatekeeper", names, 0x1000))
	assert.Equal(t, "gatekeeper_command(0x2a)", CommandName("gatekeeper", names, 0x2a))
	assert.Equal(t, "x_command(0x0)", CommandName[cmd]("x", nil, 0))
}
