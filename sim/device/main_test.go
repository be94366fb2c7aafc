package device

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/hal"
	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/internal/testkit/devchild"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/devdir"
	"github.com/fpemu/fpemu/tee/taproc"
)

// childEnv switches the test binary into a TA child. Its value names the
// behaviour only (never a secret); the record still arrives on fd 3.
// child starts the children of the common modes.
const (
	childEnv                 = "FPEMU_SIM_TEST_CHILD"
	child    devchild.Switch = childEnv
)

func TestMain(m *testing.M) { testkit.Main(m, childEnv, runChild) }

// Trivial child behaviours, for testing supervision without real TAs.
const (
	modeServe    = "serve"         // read record, listen on the socket, ready, exit 0 on SIGTERM
	modeCrash    = "crash"         // write to stderr and exit 3 before ready
	modeHang     = "hang"          // read the record, never become ready
	modeBadReady = "badready"      // write a wrong readiness line
	modeStubborn = "stubborn"      // like serve, but ignore SIGTERM
	modeTA       = devchild.ModeTA // the real TA of the role: what `fpemu ta <role>` runs
	modeLauncher = "launcher"      // a launcher process: boot trivial TAs, print their pids, wait
	modeFastLock = "fastlock"      // the real fingerprint TA with a timed lockout of fastLockout
	modeLiar     = "liar"          // read the record, signal ready without binding any socket
	modeDial     = "dial"          // open a session on the socket childEnv_DIR names (a sensor); exit 0 if refused, 3 if served
)

// runLauncher boots a device of trivial TAs in dir, prints "pids A B" on
// stdout and waits to be killed.
func runLauncher(dir string) int {
	d, err := newDevice(context.Background(), Config{Dir: dir, Command: childCommand(dir, nil)}, fakeProvisioner{}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Print("pids")
	for _, r := range d.Roles() {
		pid, _ := d.PID(r)
		fmt.Printf(" %d", pid)
	}
	fmt.Println()
	time.Sleep(time.Hour)
	return 0
}

// taCommand runs the test binary as the real TA of each role.
func taCommand(dir string) func(tee.Role) *exec.Cmd {
	return childCommand(dir, map[tee.Role]string{
		tee.RoleKeymaster: modeTA, tee.RoleGatekeeper: modeTA, tee.RoleFingerprint: modeTA, tee.RolePayment: modeTA,
	})
}

// fakeRecord is what the fake provisioner hands each role.
func fakeRecord(role tee.Role) []byte { return []byte("record-for-" + string(role)) }

func runChild(mode string) int {
	role, dir := child.Role(), child.Dir()
	switch mode {
	case modeTA:
		return devchild.RunTA(role, dir, zapcore.InfoLevel)
	case modeLauncher:
		return runLauncher(dir)
	case modeFastLock:
		return runFastLockTA(dir)
	case modeDial:
		return runDialSensor(dir)
	case modePayClient:
		return runPayClient()
	case modeHAL:
		return devchild.RunHAL(hal.Options{Dir: dir, LogLevel: zapcore.WarnLevel, Ready: os.NewFile(HALReadyFD, "ready")})
	}
	if mode == modeCrash {
		fmt.Fprintln(os.Stderr, "boom: cannot open store")
		return 3
	}
	in, err := taproc.Inherit()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	rec, err := in.ReadRecord()
	if err != nil || string(rec) != string(fakeRecord(role)) {
		fmt.Fprintf(os.Stderr, "bad record %q: %v\n", rec, err)
		return 4
	}
	switch mode {
	case modeLiar:
		if err := in.SignalReady(); err != nil {
			return 6
		}
		time.Sleep(time.Hour)
		return 1
	case modeHang:
		time.Sleep(time.Hour)
		return 1
	case modeBadReady:
		f := os.NewFile(taproc.ReadyFD, "ready")
		fmt.Fprintln(f, "NOPE")
		time.Sleep(time.Hour)
		return 1
	}
	stopped, stop := testkit.StopContext(context.Background())
	defer stop()
	if mode == modeStubborn {
		signal.Ignore(syscall.SIGTERM)
	}
	sock := devdir.SocketPath(dir, role)
	_ = os.Remove(sock)
	ln, err := listenUnix(sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 5
	}
	if err := in.SignalReady(); err != nil {
		return 6
	}
	<-stopped.Done()
	ln.Close()
	return 0
}

// childCommand runs the test binary as a trivial child with the given
// behaviour per role (default modeServe).
func childCommand(dir string, modes map[tee.Role]string) func(tee.Role) *exec.Cmd {
	return func(role tee.Role) *exec.Cmd {
		mode := modes[role]
		if mode == "" {
			mode = modeServe
		}
		return child.Command(mode, role, dir)
	}
}

func listenUnix(path string) (net.Listener, error) { return net.Listen("unix", path) }
