package hal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/devdir"
)

// ReadyLine is what the HAL process writes on its readiness descriptor
// once its socket accepts connections (the same line a TA writes,
// docs/protocol.md §7.3).
const ReadyLine = "READY"

// ErrSocketInUse means another live process serves the HAL socket (the
// same sentinel as taproc's: the HAL binds its socket the way a TA does).
var ErrSocketInUse = devdir.ErrSocketInUse

// Options configure Run.
type Options struct {
	// Dir is the device directory: the HAL dials the TAs' sockets there
	// and listens on Socket.
	Dir string
	// Socket is the north-API socket (default SocketPath(Dir)); its
	// directory must be the owner's alone (devdir.Listen).
	Socket string
	// LogLevel of the HAL's JSON log on stderr (component "hal").
	LogLevel zapcore.Level
	// Ready, if set, is written ReadyLine + "\n" and closed once the socket
	// accepts connections (the launcher's readiness pipe).
	Ready *os.File
	// Config overrides DeviceConfig(Dir) (tests); ConnectTA, AuthTokenKey
	// and Payment are taken from it when ConnectTA is set.
	Config *Config
	// ShutdownTimeout bounds the graceful stop. Default 5 s.
	ShutdownTimeout time.Duration
	// CallbackBuffer is how many callbacks a SetNotify stream may have
	// waiting before the client counts as fallen behind and its stream is
	// ended with RESOURCE_EXHAUSTED. Default DefaultSinkBuffer.
	CallbackBuffer int
}

// Run is the whole life of the HAL process (`fpemu hal --dir DIR`): open
// the HAL on the device's TAs (relaying Keymaster's key), listen on
// Options.Socket, by default DIR/sock/hal.sock (mode 0600; devdir.Listen: a socket already there,
// served or stale, is ErrSocketInUse — only the launcher removes one), signal readiness, serve the north API until SIGTERM,
// SIGINT or ctx ends, then stop gracefully, close the TA connection and
// remove the socket. It returns nil after a graceful stop.
func Run(ctx context.Context, opt Options) error {
	if opt.Dir == "" {
		return errors.New("hal: Options.Dir is required")
	}
	if opt.ShutdownTimeout <= 0 {
		opt.ShutdownTimeout = 5 * time.Second
	}
	if opt.Ready != nil {
		defer opt.Ready.Close() // unsignalled on failure: the launcher sees EOF
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	log := tee.NewLogger("hal", opt.LogLevel).With(zap.Int("pid", os.Getpid()))
	defer func() { _ = log.Sync() }()

	// The device directory is the owner's alone (protocol §7.7); the HAL
	// creates only its socket there, through devdir.Listen.
	if err := devdir.CheckOwnedDir(opt.Dir); err != nil {
		log.Error("device directory refused", zap.Error(err))
		return err
	}
	cfg := DeviceConfig(opt.Dir)
	if opt.Config != nil && opt.Config.ConnectTA != nil {
		cfg = *opt.Config
	}
	cfg.Log = log
	octx, cancel := context.WithTimeout(ctx, DefaultCallTimeout)
	h, err := Open(octx, cfg)
	cancel()
	if err != nil {
		log.Error("open failed", zap.Error(err))
		return err
	}
	defer h.Close()

	sock := opt.Socket
	if sock == "" {
		sock = SocketPath(opt.Dir)
	}
	ln, err := devdir.Listen(sock)
	if err != nil {
		log.Error("listen failed", zap.String("socket", sock), zap.Error(err))
		return err
	}
	defer func() { _ = ln.Unlink() }() // only the socket it bound

	buffer := opt.CallbackBuffer
	if buffer <= 0 {
		buffer = DefaultSinkBuffer
	}
	srv := newGRPCServer(&Server{hal: h, log: log, buffer: buffer})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	log.Info("HAL ready", zap.String("socket", sock), zap.Uint64("device_id", h.DeviceID()))
	if opt.Ready != nil {
		_ = opt.Ready.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := opt.Ready.WriteString(ReadyLine + "\n"); err != nil {
			srv.Stop()
			return fmt.Errorf("hal: signal readiness: %w", err)
		}
		opt.Ready.Close()
	}
	select {
	case <-ctx.Done():
		log.Info("stopping", zap.String("reason", "signal or context"))
	case err := <-served:
		log.Error("server stopped", zap.Error(err))
		return fmt.Errorf("hal: serve: %w", err)
	}
	// Streams (SetNotify) never end by themselves: closing the HAL ends
	// them, then GracefulStop waits for unary calls in flight.
	_ = h.Close()
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(opt.ShutdownTimeout):
		log.Warn("forced shutdown")
		srv.Stop()
		<-done
	}
	log.Info("HAL stopped")
	return nil
}
