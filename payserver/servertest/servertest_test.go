package servertest

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fpemu/fpemu/internal/testkit"
)

const childEnv = "FPEMU_SERVERTEST_CHILD"

// TestMain lets this test binary stand in for `fpemu server`: with
// childEnv set it prints a readiness line and serves until SIGTERM.
func TestMain(m *testing.M) {
	testkit.Main(m, childEnv, func(mode string) int {
		if len(os.Args) < 2 || os.Args[1] != "server" {
			fmt.Fprintf(os.Stderr, "not started as a server: %q\n", os.Args)
			return 2
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		fmt.Println("ready channel=127.0.0.1:7001 http=127.0.0.1:7002")
		<-ctx.Done()
		if mode == "fail-on-term" {
			return 1
		}
		return 0
	})
}

// fakeServer starts this test binary as the server.
func fakeServer(t *testing.T, mode string) *Server {
	t.Setenv(childEnv, mode)
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	return Start(t, os.Args[0])
}

func TestStartStop(t *testing.T) {
	s := fakeServer(t, "serve")
	assert.Equal(t, "127.0.0.1:7001", s.Channel)
	assert.Equal(t, "127.0.0.1:7002", s.HTTP)
	s.Stop(t)
	testkit.NotRunning(t, map[string]int{"server": s.PID()})
	s.Stop(t) // idempotent
}

func TestKill(t *testing.T) {
	s := fakeServer(t, "fail-on-term") // SIGKILL skips what SIGTERM would do
	s.Kill(t)
	testkit.NotRunning(t, map[string]int{"server": s.PID()})
	s.Kill(t) // idempotent; the cleanup's Stop checks nothing
}
