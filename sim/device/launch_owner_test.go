package device

import (
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/devdir"
	"github.com/fpemu/fpemu/tee/rpc"
)

// realConfig is a launcher configuration of real Keymaster and Gatekeeper
// processes in dir.
func realConfig(dir string, roles ...tee.Role) Config {
	if len(roles) == 0 {
		roles = []tee.Role{tee.RoleKeymaster, tee.RoleGatekeeper}
	}
	return Config{Dir: dir, Roles: roles, Command: taCommand(dir), ReadyTimeout: 15 * time.Second, StopGrace: 5 * time.Second, Log: zap.NewNop()}
}

// tree lists every path under dir with its type, mode, size, inode and
// modification time: two equal trees mean nothing was touched.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		out[p] = fmt.Sprintf("%v %d %d %d %v", fi.Mode(), fi.Size(), st.Ino, st.Uid, fi.ModTime().UnixNano())
		return nil
	}))
	return out
}

func TestBootRefusesADirectoryNotItsOwn(t *testing.T) {
	tests := []struct {
		name    string
		root    bool
		prepare func(t *testing.T, dir string)
		fix     string
	}{
		{"group-writable", false, func(t *testing.T, dir string) { require.NoError(t, os.Chmod(dir, 0o770)) }, "chmod 700 "},
		{"other-writable, sticky", false, func(t *testing.T, dir string) { require.NoError(t, os.Chmod(dir, 0o1777)) }, "chmod 700 "},
		{"owned by another user", true, func(t *testing.T, dir string) { require.NoError(t, os.Chown(dir, testkit.Nobody, testkit.Nobody)) }, "use a directory of your own"},
		{"a symbolic link", false, func(t *testing.T, dir string) {
			require.NoError(t, os.Rename(dir, dir+".real"))
			require.NoError(t, os.Symlink(dir+".real", dir))
			t.Cleanup(func() { os.RemoveAll(dir + ".real") })
		}, "give the real directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				testkit.NeedRoot(t)
			}
			dir := shortDir(t)
			tc.prepare(t, dir)
			before := tree(t, dir)
			d, err := Boot(testCtx(t), realConfig(dir))
			if d != nil {
				_ = shutdown(t, d)
			}
			require.ErrorIs(t, err, devdir.ErrUnsafeDir)
			assert.Contains(t, err.Error(), "fix: "+tc.fix)
			assert.Equal(t, before, tree(t, dir), "nothing created or changed")
		})
	}
	t.Run("control: a fresh directory is created 0700 and boots", func(t *testing.T) {
		dir := filepath.Join(shortDir(t), "d")
		d, err := Boot(testCtx(t), realConfig(dir))
		require.NoError(t, err)
		defer shutdown(t, d)
		fi, err := os.Lstat(dir)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
		s := session(t, d, tee.RoleGatekeeper)
		enroll(t, s, 7, []byte("pw"))
	})
}

// TestPlantedSymlinksAreNotFollowed plants a symbolic link where the
// device will create or open a file; the boot must fail and the link's
// target stay untouched.
func TestPlantedSymlinksAreNotFollowed(t *testing.T) {
	tests := []struct {
		name  string
		at    string // relative to the device dir
		isDir bool   // the link points at a directory
	}{
		{"fused key", "fused.key", false},
		{"lock file", LockFileName, false},
		{"socket record", SocketRecordName, false},
		{"sock dir", devdir.SockDirName, true},
		{"a TA socket", "sock/gatekeeper.sock", false},
		{"data dir", devdir.DataDirName, true},
		{"role data dir", "data/gatekeeper", true},
		{"sqlite database", "data/gatekeeper/gatekeeper.db", false},
		{"sqlite wal", "data/gatekeeper/gatekeeper.db-wal", false},
		{"rpmb dir", devdir.RPMBDirName, true},
		{"rollback counter", "rpmb/gatekeeper/counter", false},
		{"counter temporary", "rpmb/gatekeeper/counter.tmp", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := shortDir(t)
			victim := t.TempDir()
			target := filepath.Join(victim, "target")
			if tc.isDir {
				require.NoError(t, os.Mkdir(target, 0o700))
			} else {
				require.NoError(t, os.WriteFile(target, []byte("victim's"), 0o600))
			}
			link := filepath.Join(dir, tc.at)
			require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o700))
			require.NoError(t, os.Symlink(target, link))
			before := tree(t, victim)
			d, err := Boot(testCtx(t), realConfig(dir))
			if d != nil {
				_ = shutdown(t, d)
			}
			require.Error(t, err, "booted with %s planted", tc.at)
			assert.Contains(t, err.Error(), "symbolic link")
			assert.Equal(t, before, tree(t, victim), "nothing written through the link")
			fi, lerr := os.Lstat(link)
			require.NoError(t, lerr)
			assert.NotZero(t, fi.Mode()&fs.ModeSymlink, "the planted link is left for its owner to see")
		})
	}
}

func TestSecondLauncherRefused(t *testing.T) {
	dir := shortDir(t)
	d, err := Boot(testCtx(t), realConfig(dir))
	require.NoError(t, err)
	before := tree(t, dir)
	// A second launcher process on the same directory.
	cmd := child.Command(modeLauncher, "", dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second, "refuses at once")
	assert.Contains(t, stderr.String(), fmt.Sprintf("device already running (pid %d)", os.Getpid()))
	assert.Equal(t, before, tree(t, dir), "the second launcher touched nothing")
	// In process, the error is typed.
	_, err = Boot(testCtx(t), realConfig(dir))
	var re *RunningError
	require.ErrorAs(t, err, &re)
	assert.ErrorIs(t, err, ErrDeviceRunning)
	assert.Equal(t, os.Getpid(), re.PID)
	// The running device is unharmed.
	enroll(t, session(t, d, tee.RoleGatekeeper), 1, []byte("pw"))
	require.NoError(t, shutdown(t, d))
	// Control: once it is down, the directory boots again.
	d2, err := Boot(testCtx(t), realConfig(dir))
	require.NoError(t, err)
	require.NoError(t, shutdown(t, d2))
}

// squatter listens on path and counts connections and bytes received.
type squatter struct {
	ln           net.Listener
	conns, bytes atomic.Int64
}

func squat(t *testing.T, path string) *squatter {
	t.Helper()
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	s := &squatter{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			go func() {
				n, _ := io.Copy(io.Discard, c)
				s.bytes.Add(n)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

// TestRestartWaitsOutASquatter: a killed TA's socket path taken by a
// foreign listener: the launcher routes nobody there, retries the restart
// with backoff, and recovers once the path is free.
func TestRestartWaitsOutASquatter(t *testing.T) {
	dir := shortDir(t)
	cfg := realConfig(dir)
	cfg.Restart = RestartPolicy{MaxRestarts: 1, Backoff: 300 * time.Millisecond}

	d, err := Boot(testCtx(t), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = shutdown(t, d) })
	pid, err := d.PID(tee.RoleGatekeeper)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	nextEvent(t, d, EventExited)
	// The attacker replaces the dead TA's socket file with its own
	// listener, before the launcher restarts it.
	path := d.SocketPath(tee.RoleGatekeeper)
	require.NoError(t, os.Remove(path))
	sq := squat(t, path)
	e := nextEvent(t, d, EventSocketTaken)
	assert.Equal(t, tee.RoleGatekeeper, e.Role)

	_, err = d.OpenSession(testCtx(t), tee.RoleGatekeeper)
	require.ErrorIs(t, err, tee.ErrTargetDead)
	_, err = d.PID(tee.RoleGatekeeper)
	require.ErrorIs(t, err, ErrNotRunning)
	time.Sleep(time.Second) // a few retries
	assert.Zero(t, sq.conns.Load(), "the launcher connected a client to the squatter")
	assert.FileExists(t, path, "the launcher removed a socket it did not create")

	// The path is freed: the next retry restarts the TA.
	require.NoError(t, sq.ln.Close())
	// The next retry is at most MaxTakenBackoff away, and each failed
	// attempt started (and lost) a TA process: allow for a loaded machine.
	e = nextEventWithin(t, d, EventRestarted, 3*MaxTakenBackoff+15*time.Second)
	assert.NotEqual(t, pid, e.PID)
	s := session(t, d, tee.RoleGatekeeper)
	enroll(t, s, 3, []byte("pw"))
	assert.Zero(t, sq.bytes.Load())
}

// TestReadinessOnlyFromItsOwnSocket: a child that reports ready without
// binding while a squatter serves its path is not trusted.
func TestReadinessOnlyFromItsOwnSocket(t *testing.T) {
	dir := shortDir(t)
	require.NoError(t, os.Mkdir(filepath.Join(dir, devdir.SockDirName), 0o700))
	sq := squat(t, devdir.SocketPath(dir, tee.RoleGatekeeper))
	cfg := Config{Dir: dir, Command: childCommand(dir, map[tee.Role]string{tee.RoleGatekeeper: modeLiar}), ReadyTimeout: 5 * time.Second, StopGrace: 2 * time.Second, Log: zap.NewNop()}
	d, err := newDevice(testCtx(t), cfg, fakeProvisioner{}, nil)
	if d != nil {
		_ = shutdown(t, d)
	}
	require.ErrorIs(t, err, ErrForeignSocket)
	var se *StartError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, tee.RoleGatekeeper, se.Role)
	assert.False(t, alive(se.PID), "the lying child is ended")
	assert.Zero(t, sq.bytes.Load())
	assert.FileExists(t, devdir.SocketPath(dir, tee.RoleGatekeeper), "the squatter's socket is not the launcher's to remove")
}

// runDialSensor is the modeDial child: open a sensor-control session on
// the socket at path, as whatever uid the child runs as.
func runDialSensor(path string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, path)
	if err != nil {
		fmt.Println("refused:", err)
		return 0
	}
	defer c.Close()
	if _, err := c.OpenSession(ctx, sensorproto.UUID, nil); err != nil {
		fmt.Println("refused:", err)
		return 0
	}
	fmt.Println("served")
	return 3
}

// TestSensorSocketOwnerOnly: another local user cannot reach the sensor
// control even when the directory and the socket are opened up to it.
func TestSensorSocketOwnerOnly(t *testing.T) {
	testkit.NeedRoot(t)
	dir := shortDir(t)
	d, err := Boot(testCtx(t), realConfig(dir, tee.RoleKeymaster, tee.RoleFingerprint))
	require.NoError(t, err)
	t.Cleanup(func() { _ = shutdown(t, d) })
	sock := d.SensorSocketPath()
	fi, err := os.Lstat(sock)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	// Loosen every mode on the way.
	require.NoError(t, os.Chmod(dir, 0o711))
	require.NoError(t, os.Chmod(filepath.Dir(sock), 0o711))
	require.NoError(t, os.Chmod(sock, 0o666))
	exe := testkit.ForeignExecutable(t)
	for _, tc := range []struct {
		name string
		uid  uint32
		want int
	}{{"another user", testkit.Nobody, 0}, {"control: the owner", 0, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(exe, "-test.run=^$")
			cmd.Env = []string{"GORACE=atexit_sleep_ms=0", childEnv + "=" + modeDial, childEnv + "_DIR=" + sock}
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: tc.uid, Gid: tc.uid}}
			out, err := cmd.Output()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.want, code, "%s", out)
		})
	}
	// The owner's own session still works.
	s, err := d.OpenSensor(testCtx(t))
	require.NoError(t, err)
	s.Close()
}
