package payproto

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCommandString(t *testing.T) {
	tests := []struct {
		cmd  Command
		want string
	}{
		{CmdDeliver, "DELIVER"},
		{CmdGetDeviceCert, "GET_DEVICE_CERT"},
		{CmdCreateAppKey, "CREATE_APP_KEY"},
		{CmdCreateSceneKey, "CREATE_SCENE_KEY"},
		{CmdGetCert, "GET_CERT"},
		{CmdSignPayment, "SIGN_PAYMENT"},
		{CmdDeleteKey, "DELETE_KEY"},
		{CmdBeginPayment, "BEGIN_PAYMENT"},
		{CmdSetAuthTokenKey, "SET_AUTH_TOKEN_KEY"},
		{Command(0x8), "payment_command(0x8)"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.cmd.String())
	}
}
