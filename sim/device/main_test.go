package device

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/sim/tas"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/devdir"
	"github.com/fpemu/fpemu/tee/taproc"
)

// childEnv switches the test binary into a TA child. Its value names the
// behaviour only (never a secret); the record still arrives on fd 3.
const childEnv = "FPEMU_SIM_TEST_CHILD"

func TestMain(m *testing.M) { testkit.Main(m, childEnv, runChild) }

// Trivial child behaviours, for testing supervision without real TAs.
const (
	modeServe    = "serve"    // read record, listen on the socket, ready, exit 0 on SIGTERM
	modeCrash    = "crash"    // write to stderr and exit 3 before ready
	modeHang     = "hang"     // read the record, never become ready
	modeBadReady = "badready" // write a wrong readiness line
	modeStubborn = "stubborn" // like serve, but ignore SIGTERM
	modeTA       = "ta"       // the real TA of the role: what `fpemu ta <role>` runs
	modeLauncher = "launcher" // a launcher process: boot trivial TAs, print their pids, wait
	modeFastLock = "fastlock" // the real fingerprint TA with a timed lockout of fastLockout
	modeLiar     = "liar"     // read the record, signal ready without binding any socket
	modeDial     = "dial"     // open a session on the socket childEnv_DIR names (a sensor); exit 0 if refused, 3 if served
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

// runTA runs role's real TA process, as `fpemu ta <role> --dir dir` does.
func runTA(role tee.Role, dir string) int {
	if err := tas.RunTA(context.Background(), role, dir, zapcore.InfoLevel); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, taproc.ErrNotLaunched) {
			return 2
		}
		return 1
	}
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
	role := tee.Role(os.Getenv(childEnv + "_ROLE"))
	dir := os.Getenv(childEnv + "_DIR")
	switch mode {
	case modeTA:
		return runTA(role, dir)
	case modeLauncher:
		return runLauncher(dir)
	case modeFastLock:
		return runFastLockTA(dir)
	case modeDial:
		return runDialSensor(dir)
	case modePayClient:
		return runPayClient()
	case modeHAL:
		return runHAL(dir)
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
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
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
	<-sigs
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
		return testkit.ChildCommand(childEnv+"="+mode, childEnv+"_ROLE="+string(role), childEnv+"_DIR="+dir)
	}
}

func listenUnix(path string) (net.Listener, error) { return net.Listen("unix", path) }
