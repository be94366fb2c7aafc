package drive_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/sim/tas"
	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tokens"
)

// childEnv makes the test binary a TA process (`fpemu ta <role>`).
const childEnv = "FPEMU_DRIVE_TEST_CHILD"

func TestMain(m *testing.M) {
	testkit.Main(m, childEnv, func(string) int {
		err := tas.RunTA(context.Background(), tee.Role(os.Getenv(childEnv+"_ROLE")), os.Getenv(childEnv+"_DIR"), zapcore.WarnLevel)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	})
}

// upTAs boots the TAs of roles as processes of this test binary (no
// HAL), stopped when the test ends.
func upTAs(t *testing.T, ctx context.Context, roles ...tee.Role) *device.Stack {
	t.Helper()
	st, err := device.Up(ctx, device.StackConfig{
		Config: device.Config{Roles: roles, Log: zap.NewNop()},
		TACommand: func(dir string) func(tee.Role) *exec.Cmd {
			return func(r tee.Role) *exec.Cmd {
				return testkit.ChildCommand(childEnv+"=ta", childEnv+"_ROLE="+string(r), childEnv+"_DIR="+dir)
			}
		},
		TempDir: "fpdr",
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close(context.Background())) })
	return st
}

// gatekeeper boots Keymaster and Gatekeeper as processes and returns a
// session on Gatekeeper.
func gatekeeper(t *testing.T) *device.Session {
	t.Helper()
	ctx := testkit.Context(t, 30*time.Second)
	s, err := upTAs(t, ctx, tee.RoleKeymaster, tee.RoleGatekeeper).Session(ctx, tee.RoleGatekeeper)
	require.NoError(t, err)
	return s
}

func TestPIN(t *testing.T) {
	gk := gatekeeper(t)
	ctx := testkit.Context(t, 30*time.Second)
	pin, err := drive.EnrollPIN(ctx, gk, 7, []byte("1234"))
	require.NoError(t, err)
	assert.NotZero(t, pin.SID)
	assert.NotEmpty(t, pin.Handle)

	tests := []struct {
		name      string
		challenge uint64
	}{{"zero challenge", 0}, {"preEnroll challenge", 0x1122334455667788}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hat, err := pin.HAT(ctx, tt.challenge)
			require.NoError(t, err)
			raw, err := pin.Verify(ctx, tt.challenge)
			require.NoError(t, err)
			assert.Equal(t, hat.UserID, raw.UserID, "Verify returns the same kind of token, unchecked")
			assert.Equal(t, tokens.AuthPassword, hat.AuthenticatorType)
			assert.Equal(t, pin.SID, hat.UserID)
			assert.Equal(t, tt.challenge, hat.Challenge)
		})
	}

	t.Run("wrong password", func(t *testing.T) {
		other, err := drive.EnrollPIN(ctx, gk, 8, []byte("1234"))
		require.NoError(t, err)
		other.Password = []byte("9999")
		_, err = other.HAT(ctx, 1)
		require.Error(t, err)
		assert.True(t, strings.Contains(err.Error(), "VERIFY"), err.Error())
	})

	require.NoError(t, pin.Delete(ctx))
	_, err = pin.HAT(ctx, 1)
	require.Error(t, err, "a deleted user verifies nothing")
}

func TestEnrollPINError(t *testing.T) {
	gk := gatekeeper(t)
	ctx := testkit.Context(t, 30*time.Second)
	_, err := drive.EnrollPIN(ctx, gk, 1, nil)
	require.Error(t, err, "an empty password is refused")
	assert.Contains(t, err.Error(), "ENROLL of user 1")
}

// tamper passes every command to the real Gatekeeper and rewrites the
// token VERIFY returns: a Gatekeeper that mints the wrong HAT.
type tamper struct {
	rpc.Invoker
	edit func(*tokens.Token)
}

func (m tamper) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	if err := m.Invoker.Invoke(ctx, cmd, p); err != nil || cmd != uint32(gkproto.CmdVerify) {
		return err
	}
	tok, err := tokens.Parse(p[3].Data)
	if err != nil {
		return err
	}
	m.edit(&tok)
	p[3].Data = tok.Marshal()
	return nil
}

// TestPINHATChecks: HAT refuses a token that is not the PASSWORD HAT of
// the request; Verify hands it over unchecked.
func TestPINHATChecks(t *testing.T) {
	gk := gatekeeper(t)
	ctx := testkit.Context(t, 30*time.Second)
	tests := []struct {
		name string
		edit func(*tokens.Token)
		want string
	}{
		{"fingerprint type", func(k *tokens.Token) { k.AuthenticatorType = tokens.AuthFingerprint }, "want PASSWORD"},
		{"another user's SID", func(k *tokens.Token) { k.UserID++ }, "want SID"},
		{"another challenge", func(k *tokens.Token) { k.Challenge++ }, "challenge"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pin, err := drive.EnrollPIN(ctx, tamper{gk, tt.edit}, uint32(20+i), []byte("1234"))
			require.NoError(t, err)
			_, err = pin.HAT(ctx, 42)
			require.ErrorIs(t, err, drive.ErrBadHAT)
			assert.Contains(t, err.Error(), tt.want)
			_, err = pin.Verify(ctx, 42)
			require.NoError(t, err, "Verify does not judge the token")
		})
	}
}
