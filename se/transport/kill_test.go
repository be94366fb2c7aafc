package transport

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/se/apdu"
	"github.com/fpemu/fpemu/se/card"
)

const childEnv = "FPEMU_SE_TEST_CHILD"

func TestMain(m *testing.M) {
	testkit.Main(m, childEnv, func(mode string) int {
		dir := os.Getenv("FPEMU_SE_TEST_DIR")
		c, err := card.Open(dir, card.Options{})
		if err != nil {
			return 3
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		if err := ServeSocket(ctx, c.NewSession, filepath.Join(dir, "se.sock"), zap.NewNop()); err != nil {
			return 4
		}
		return 0
	})
}

// TestKillMidVerifyStorm: a card process is killed with SIGKILL at
// random points of a wrong-PIN VERIFY storm, again and again. However the
// kills fall, the host never sees more than six 63CX answers before 6983,
// and the store reopens every time (the old or the new state).
func TestKillMidVerifyStorm(t *testing.T) {
	dir := testkit.ShortDir(t)
	seen := 0
	blocked := false
	for round := 0; round < 40 && !blocked; round++ {
		_ = os.Remove(filepath.Join(dir, "se.sock"))
		cmd := testkit.ChildCommand(childEnv+"=serve", "FPEMU_SE_TEST_DIR="+dir)
		p := testkit.Start(t, cmd)
		var cl *Client
		deadline := time.Now().Add(10 * time.Second)
		for {
			var err error
			cl, err = Dial(context.Background(), filepath.Join(dir, "se.sock"))
			if err == nil {
				break
			}
			require.True(t, time.Now().Before(deadline), "child did not come up: %s", p.Stderr())
			time.Sleep(10 * time.Millisecond)
		}
		// kill after a short, varying delay while VERIFYs are in flight
		go func(d time.Duration) {
			time.Sleep(d)
			_ = p.Cmd.Process.Kill()
		}(time.Duration(round%7) * 3 * time.Millisecond)
		if r, err := cl.Transmit([]byte{0, 0xA4, 4, 0x0C, 7, 0xF0, 0x46, 0x50, 0x45, 0x4D, 0x55, 0x01}); err == nil {
			require.Equal(t, []byte{0x90, 0}, r)
			for {
				r, err := cl.Transmit([]byte{0, 0x20, 0, 1, 6, '9', '9', '9', '9', '9', '9'})
				if err != nil {
					break
				}
				resp, perr := apdu.ParseResponse(r)
				require.NoError(t, perr)
				if resp.SW == apdu.SWAuthMethodBlocked {
					blocked = true
					break
				}
				_, isTries := resp.SW.Tries()
				require.True(t, isTries, "%v", resp.SW)
				seen++
			}
		}
		_ = cl.Close()
		_ = p.Cmd.Process.Kill()
		<-p.Exited()
	}
	assert.LessOrEqual(t, seen, card.MaxUserTries, "kill -9 bought free tries")
	c, err := card.Open(dir, card.Options{})
	require.NoError(t, err, "the store reopens after the kills")
	defer c.Close()
	n, err := c.TriesLeft(context.Background(), card.RefUser)
	require.NoError(t, err)
	assert.LessOrEqual(t, n, card.MaxUserTries-seen, "every answered try is on disk")
	s := c.NewSession()
	s.Transmit(context.Background(), []byte{0, 0xA4, 4, 0x0C, 7, 0xF0, 0x46, 0x50, 0x45, 0x4D, 0x55, 0x01})
	if blocked {
		r := s.Transmit(context.Background(), append([]byte{0, 0x20, 0, 1, 6}, card.TransportPIN...))
		assert.Equal(t, []byte{0x69, 0x83}, r, "blocked, even for the right PIN")
	}
}
