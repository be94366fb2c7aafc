package attack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/se/card"
	"github.com/fpemu/fpemu/se/transport"
	"github.com/fpemu/fpemu/tee"
)

// The test binary as the shield card process: `se --dir DIR --socket
// PATH` is `fpemu se` (the same card.Open and transport.ServeSocket
// calls, built here because a test binary cannot run cmd/fpemu), and
// `se-weakened=W --dir DIR --socket PATH` is a canary's weakened card
// (card.Options.Weaken) — a mode only this test binary has, never `fpemu
// se`.

// seWeakenings names the card doubles a canary may select.
var seWeakenings = map[string]card.Weakening{
	"no-pin-lock":        {NoPINLock: true},
	"no-server-check":    {NoServerCheck: true},
	"no-sm-replay-check": {NoSMReplayCheck: true},
}

// seChildMode reports the card mode of a child's arguments and its
// directory and socket.
func seChildMode(args []string) (weakening, dir, sock string, ok bool) {
	if len(args) != 5 || args[1] != "--dir" || args[3] != "--socket" {
		return "", "", "", false
	}
	if args[0] == "se" {
		return "", args[2], args[4], true
	}
	if w, found := strings.CutPrefix(args[0], "se-weakened="); found {
		return w, args[2], args[4], true
	}
	return "", "", "", false
}

// runSEChild serves the card in dir on sock until SIGTERM.
func runSEChild(weakening, dir, sock string) error {
	var w card.Weakening
	if weakening != "" {
		var found bool
		if w, found = seWeakenings[weakening]; !found {
			return fmt.Errorf("unknown card weakening %q", weakening)
		}
	}
	log := tee.NewLoggerTo(os.Stderr, "se", zapcore.WarnLevel)
	crd, err := card.Open(dir, card.Options{Logger: log, Weaken: w})
	if err != nil {
		return err
	}
	defer crd.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return transport.ServeSocket(ctx, crd.NewSession, sock, log)
}

// seCmd is Config.SECommand for the test binary, weakened as given ("":
// the real card).
func seCmd(weakening string) func(dir, sock string) *exec.Cmd {
	return func(dir, sock string) *exec.Cmd {
		mode := "se"
		if weakening != "" {
			mode = "se-weakened=" + weakening
		}
		return childCmd(mode, "--dir", dir, "--socket", sock)
	}
}
