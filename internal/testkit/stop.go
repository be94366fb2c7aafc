package testkit

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// StopContext is the serve-until-stopped loop of a child process: a
// context derived from ctx that is canceled when this process gets
// SIGTERM or SIGINT. Call stop to release the signals.
func StopContext(ctx context.Context) (c context.Context, stop context.CancelFunc) {
	return signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
}

// ParentContext is StopContext that is also canceled when stdin reaches
// EOF: a child whose parent holds its stdin pipe (cmd.StdinPipe) stops
// when the parent closes it or dies, even if no signal comes.
func ParentContext(ctx context.Context) (c context.Context, stop context.CancelFunc) {
	c, stopSignals := StopContext(ctx)
	c, cancel := context.WithCancel(c)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	return c, func() { cancel(); stopSignals() }
}
