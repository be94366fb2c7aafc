package taproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/boot"
	"github.com/fpemu/fpemu/tee/devdir"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
)

// The values of Options.Durability and Env.Durability (tee/store's
// Durability names; taproc does not link the store).
const (
	DurabilityProcess = "process"
	DurabilityPower   = "power"
)

// Env is everything a role's Factory gets to build its TA. Secrets in it
// (Record's keys) must not be logged; the types involved print
// "[redacted]".
type Env struct {
	// Role and UUID name the TA (from the provisioning record).
	Role tee.Role
	UUID tee.UUID
	// Record is the decoded provisioning record: storage key, pairwise
	// envelope keys of the TA's routes, BootID, clock origin. It is wiped
	// when the process exits; a TA that keeps a key copies it.
	Record *boot.Record
	// Dir is the device directory.
	Dir string
	// DBPath is where the TA keeps its sealed SQLite store, in its data
	// directory (DataDir), which exists.
	DBPath string
	// CounterPath is where the TA keeps its rollback counter (RPMB
	// stand-in), in RPMBDir, outside DataDir; the directory exists.
	CounterPath string
	// Clock is the device boot clock (CLOCK_BOOTTIME minus the boot
	// origin), shared by every process of the device.
	Clock *boot.Clock
	// Log carries component=<role>.
	Log *zap.Logger
	// Sealer seals envelopes on the routes the TA sends on (it holds no
	// key when the TA sends on none).
	Sealer *envelope.Sealer
	// Durability is what a commit of the TA's sealed store survives:
	// "process" (a kill of the TA) or "power" (also a power loss; fsync on
	// every commit) — tee/store's Durability by name, set per device by
	// `fpemu device up --durability` (docs/protocol.md §6.1, §7.8).
	Durability string
}

// NewOpener returns an envelope Opener for the routes the TA receives on,
// with the given replay guard (which should persist its marks in the TA's
// store, so a restart does not reopen old envelopes).
func (e *Env) NewOpener(guard envelope.ReplayGuard) (*envelope.Opener, error) {
	return envelope.NewOpener(e.UUID, e.Record.Keys, guard)
}

// Endpoint is an extra CA→TA listener a TA process serves beside its
// role's socket, on DIR/sock/<Name>.sock (mode 0600): a second TA
// interface of the same process under its own UUID, such as the
// fingerprint TA's sensor-control endpoint.
type Endpoint struct {
	// Name is the socket file's stem: letters, digits, '-' and '_'.
	Name string
	UUID tee.UUID
	TA   rpc.TA
}

// Endpointer is implemented by a TA that serves extra endpoints. Run
// listens on them before signalling readiness and shuts them down with the
// TA's own server.
type Endpointer interface {
	Endpoints() []Endpoint
}

// Factory builds a role's TA from its Env. If the returned TA implements
// io.Closer, Run closes it after the server has shut down (e.g. to close
// its store).
type Factory func(env *Env) (rpc.TA, error)

// Options configure Run.
type Options struct {
	// Role is the TA to run; the provisioning record must be for it.
	Role tee.Role
	// Dir is the device directory.
	Dir string
	// Factory builds the TA. Required.
	Factory Factory
	// LogLevel of the TA's logger (zap's default, info, when zero).
	LogLevel zapcore.Level
	// Durability is Env.Durability: DurabilityProcess or DurabilityPower
	// ("" is DurabilityProcess); any other value fails Run.
	Durability string
	// ShutdownTimeout bounds the graceful rpc shutdown after SIGTERM;
	// default 5 s, after which running commands are cancelled.
	ShutdownTimeout time.Duration
	// ServerOptions configure the role's TA host (rpc.NewServer); none on
	// a device, whose hosts keep rpc's documented default limits.
	ServerOptions []rpc.Option
}

// ErrWrongRole means the provisioning record on fd 3 is for another TA.
var ErrWrongRole = errors.New("taproc: provisioning record is for another TA")

// Run is the whole life of a TA process (see the package doc). It returns
// nil after a graceful shutdown on SIGTERM/SIGINT or when ctx ends, an
// error wrapping ErrNotLaunched when the process has no inherited
// descriptors, and any other start or serve failure otherwise. The
// readiness pipe is closed unsignalled on failure, so the launcher sees the
// start fail.
func Run(ctx context.Context, opt Options) error {
	if err := harden(); err != nil {
		return err
	}
	in, err := Inherit()
	if err != nil {
		return err
	}
	defer in.Close()
	if opt.Factory == nil {
		return errors.New("taproc: no factory for role " + string(opt.Role))
	}
	switch opt.Durability {
	case "":
		opt.Durability = DurabilityProcess
	case DurabilityProcess, DurabilityPower:
	default:
		return fmt.Errorf("taproc: durability %q: want %s or %s", opt.Durability, DurabilityProcess, DurabilityPower)
	}
	if opt.ShutdownTimeout <= 0 {
		opt.ShutdownTimeout = 5 * time.Second
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	raw, err := in.ReadRecord()
	if err != nil {
		return err
	}
	rec, err := boot.Parse(raw)
	clear(raw)
	if err != nil {
		return fmt.Errorf("taproc: %w", err)
	}
	defer rec.Wipe()
	if rec.Role != opt.Role {
		return fmt.Errorf("%w: record for %s, process for %s", ErrWrongRole, rec.Role, opt.Role)
	}

	log := tee.NewLogger(string(opt.Role), opt.LogLevel).With(
		zap.Int("pid", os.Getpid()), zap.Stringer("boot_id", rec.BootID))
	defer func() { _ = log.Sync() }()

	env, err := newEnv(opt.Dir, &rec, log)
	if err != nil {
		return err
	}
	env.Durability = opt.Durability
	ta, err := opt.Factory(env)
	if err != nil {
		log.Error("TA construction failed", zap.Error(err))
		return fmt.Errorf("taproc: build %s TA: %w", opt.Role, err)
	}
	if c, ok := ta.(io.Closer); ok {
		defer func() {
			if err := c.Close(); err != nil {
				log.Error("closing TA", zap.Error(err))
			}
		}()
	}

	sock := devdir.SocketPath(opt.Dir, opt.Role)
	ln, err := devdir.Listen(sock)
	if err != nil {
		log.Error("listen failed", zap.String("socket", sock), zap.Error(err))
		return err
	}
	defer func() { _ = ln.Unlink() }()

	srv := rpc.NewServer(rec.UUID, ta, log, opt.ServerOptions...)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	extra, err := serveEndpoints(opt.Dir, ta, log, served)
	defer stopEndpoints(extra)
	if err != nil {
		_ = srv.Shutdown(context.Background())
		return err
	}

	if err := in.SignalReady(); err != nil {
		_ = srv.Shutdown(context.Background())
		return err
	}
	log.Info("TA ready", zap.String("socket", sock))

	select {
	case <-ctx.Done():
		log.Info("stopping", zap.String("reason", "signal or context"))
	case err := <-served:
		log.Error("server stopped", zap.Error(err))
		_ = srv.Shutdown(context.Background())
		return fmt.Errorf("taproc: serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), opt.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("forced shutdown", zap.Error(err))
	}
	<-served
	shutdownEndpoints(sctx, extra, log)
	log.Info("TA stopped")
	return nil
}

// newEnv prepares the directories and the per-TA dependencies. The
// device directory must pass CheckOwnedDir; sock/, data/<role>/ and
// rpmb/<role>/ are created 0700 or checked, never through a symbolic link,
// and the store and counter files the TA will open by path are checked
// with CheckFile (protocol §7.7).
func newEnv(dir string, rec *boot.Record, log *zap.Logger) (*Env, error) {
	if err := devdir.CheckOwnedDir(dir); err != nil {
		return nil, err
	}
	if _, err := devdir.EnsureDir(dir, devdir.SockDirName); err != nil {
		return nil, err
	}
	data, err := devdir.EnsureDir(dir, devdir.DataDirName, string(rec.Role))
	if err != nil {
		return nil, err
	}
	rpmb, err := devdir.EnsureDir(dir, devdir.RPMBDirName, string(rec.Role))
	if err != nil {
		return nil, err
	}
	db, counter := filepath.Join(data, string(rec.Role)+".db"), filepath.Join(rpmb, "counter")
	for _, f := range []string{db, db + "-wal", db + "-shm", db + "-journal", counter, counter + ".tmp"} {
		if err := devdir.CheckFile(f); err != nil {
			return nil, err
		}
	}
	clock := rec.Clock()
	sealer, err := envelope.NewSealer(rec.UUID, rec.Keys, clock)
	if err != nil {
		return nil, fmt.Errorf("taproc: envelope sealer: %w", err)
	}
	return &Env{
		Role:        rec.Role,
		UUID:        rec.UUID,
		Record:      rec,
		Dir:         dir,
		DBPath:      db,
		CounterPath: counter,
		Clock:       clock,
		Log:         log,
		Sealer:      sealer,
	}, nil
}

// endpoint is one extra listener being served.
type endpoint struct {
	srv *rpc.Server
	ln  *devdir.Listener
}

// serveEndpoints listens on and serves ta's extra endpoints, if any. A
// failed Serve is reported on served, like the main server's.
func serveEndpoints(dir string, ta rpc.TA, log *zap.Logger, served chan<- error) ([]endpoint, error) {
	ep, ok := ta.(Endpointer)
	if !ok {
		return nil, nil
	}
	var out []endpoint
	for _, e := range ep.Endpoints() {
		if !validEndpointName(e.Name) || e.TA == nil {
			return out, fmt.Errorf("taproc: bad endpoint %q", e.Name)
		}
		sock := filepath.Join(dir, devdir.SockDirName, e.Name+".sock")
		ln, err := devdir.Listen(sock)
		if err != nil {
			log.Error("listen failed", zap.String("socket", sock), zap.Error(err))
			return out, err
		}
		elog := log.With(zap.String("endpoint", e.Name))
		srv := rpc.NewServer(e.UUID, e.TA, elog)
		out = append(out, endpoint{srv: srv, ln: ln})
		go func() {
			// Extra endpoints are owner-only whatever the socket's mode
			// (the sensor control stands for the physical world).
			if err := srv.Serve(devdir.OwnerOnly(ln, elog)); err != nil && !errors.Is(err, rpc.ErrServerClosed) {
				select {
				case served <- err:
				default:
				}
			}
		}()
		log.Info("endpoint ready", zap.String("endpoint", e.Name), zap.String("socket", sock))
	}
	return out, nil
}

func validEndpointName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// shutdownEndpoints stops the extra servers gracefully within ctx.
func shutdownEndpoints(ctx context.Context, eps []endpoint, log *zap.Logger) {
	for _, e := range eps {
		if err := e.srv.Shutdown(ctx); err != nil {
			log.Warn("endpoint forced shutdown", zap.String("socket", e.ln.Path()), zap.Error(err))
		}
	}
}

// stopEndpoints makes sure every extra server is stopped and its socket
// removed when Run returns.
func stopEndpoints(eps []endpoint) {
	for _, e := range eps {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = e.srv.Shutdown(ctx)
		cancel()
		_ = e.ln.Unlink()
	}
}
