package device

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fpemu/fpemu/hal"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/devdir"
)

// LockFileName is the launcher's lock in the device directory. The
// launcher holds an exclusive flock(2) on it for the device's whole life
// and writes its pid in it (protocol §7.7).
const LockFileName = "lock"

// SocketRecordName is the launcher's record of the sockets its device's
// processes bound (protocol §7.7): one line "<file> <dev> <inode>
// <ctime-ns>" per socket in sock/. Only the launcher holding the lock reads or writes it.
const SocketRecordName = "sockets"

// ErrDeviceRunning means another launcher holds the device directory's
// lock: the device is already running. The error is a *RunningError.
var ErrDeviceRunning = errors.New("device already running")

// RunningError reports the launcher that holds the device directory.
type RunningError struct {
	Dir string
	PID int // 0 if the holder has not written its pid yet
}

func (e *RunningError) Error() string {
	pid := "unknown"
	if e.PID > 0 {
		pid = strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("sim: %s: %s (pid %s); stop it first, or use another --dir", e.Dir, ErrDeviceRunning, pid)
}

// Is makes errors.Is(err, ErrDeviceRunning) true.
func (e *RunningError) Is(target error) bool { return target == ErrDeviceRunning }

// ErrForeignSocket means a device socket path is served by a process that
// is not the one the launcher started for it (SO_PEERCRED pid): the
// launcher neither trusts its readiness nor routes a client to it.
var ErrForeignSocket = errors.New("socket served by a process the launcher did not start")

// openDeviceDir prepares dir (devdir.PrepareDeviceDir: created 0700, or
// checked to be the launcher user's and not group- or other-writable),
// takes the device lock, creates sock/ and clears the sockets a previous
// launcher of this directory recorded and left behind. On a lock held by
// another launcher it fails with a *RunningError having changed nothing.
func openDeviceDir(dir string, clientGID int) (*owner, error) {
	if err := devdir.PrepareDeviceDir(dir); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	lock, err := lockDevice(dir)
	if err != nil {
		return nil, err
	}
	o := &owner{dir: dir, lock: lock, clientGID: clientGID, socks: map[string]devdir.FileID{}}
	if _, err := devdir.EnsureDir(dir, devdir.SockDirName); err != nil {
		o.close()
		return nil, fmt.Errorf("sim: %w", err)
	}
	for _, d := range []string{dir, filepath.Join(dir, devdir.SockDirName)} {
		share := unshareDir
		if clientGID >= 0 {
			share = func(p string) error { return shareDir(p, clientGID) }
		}
		if err := share(d); err != nil {
			o.close()
			return nil, err
		}
	}
	if err := o.clearRecorded(); err != nil {
		o.close()
		return nil, err
	}
	return o, nil
}

// lockDevice opens DIR/lock (never through a link), takes an exclusive
// non-blocking flock and writes the launcher's pid. A held lock is a
// *RunningError naming the holder's pid; the file is not modified then.
func lockDevice(dir string) (*os.File, error) {
	path := filepath.Join(dir, LockFileName)
	if err := devdir.CheckFile(path); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sim: device lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			var b [24]byte
			n, _ := f.ReadAt(b[:], 0)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b[:n])))
			return nil, &RunningError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("sim: device lock: %w", err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("sim: device lock: %w", err)
	}
	return f, nil
}

// owner is the launcher's hold on its device directory: the lock, and the
// record of the sockets the device's processes bound — the only sockets a
// launcher ever removes.
type owner struct {
	dir  string
	lock *os.File
	// clientGID is Config.ClientGroup, or -1: the group the device's
	// client sockets are shared with (share.go).
	clientGID int

	mu    sync.Mutex
	socks map[string]devdir.FileID // by file name in sock/
}

func (o *owner) sockPath(name string) string {
	return filepath.Join(o.dir, devdir.SockDirName, name)
}

// clearRecorded removes the sockets the record lists that are still the
// very files recorded (same device, inode and change time) and that nobody accepts on
// — a previous launcher's, left by a crash — and empties the record.
// Anything else in sock/ is left alone.
func (o *owner) clearRecorded() error {
	f, err := os.OpenFile(filepath.Join(o.dir, SocketRecordName), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sim: socket record: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxRecordSize+1))
	f.Close()
	if err != nil {
		return fmt.Errorf("sim: socket record: %w", err)
	}
	recs, err := parseSocketRecord(b)
	if err != nil {
		// A record we cannot read names nothing we may remove.
		return err
	}
	for _, r := range recs {
		p := o.sockPath(r.Name)
		if !devdir.SameFile(p, r.ID) {
			continue
		}
		if c, err := net.DialTimeout("unix", p, time.Second); err == nil {
			c.Close() // alive: not ours to remove
			continue
		}
		_ = os.Remove(p)
	}
	return o.save()
}

// save rewrites the record (temporary file created exclusively, then
// renamed: never written through a link).
func (o *owner) save() error {
	recs := make([]recordedSocket, 0, len(o.socks))
	for n, id := range o.socks {
		recs = append(recs, recordedSocket{Name: n, ID: id})
	}
	slices.SortFunc(recs, func(a, b recordedSocket) int { return strings.Compare(a.Name, b.Name) })
	b := appendSocketRecord(nil, recs)
	path := filepath.Join(o.dir, SocketRecordName)
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("sim: socket record: %w", err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("sim: socket record: %w", err)
	}
	return nil
}

// claim verifies that the socket file name is served by pid — the process
// the launcher just started — and records it as the device's. It dials the
// socket and compares the listener's SO_PEERCRED pid, checking that the
// file did not change around the dial.
func (o *owner) claim(name string, pid int) error {
	p := o.sockPath(name)
	id, err := devdir.Identify(p)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrForeignSocket, p, err)
	}
	c, err := net.DialTimeout("unix", p, 2*time.Second)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrForeignSocket, p, err)
	}
	cred, err := devdir.PeerCred(c)
	c.Close()
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrForeignSocket, p, err)
	}
	if int(cred.Pid) != pid || !devdir.SameFile(p, id) {
		return fmt.Errorf("%w: %s is served by pid %d, not by pid %d", ErrForeignSocket, p, cred.Pid, pid)
	}
	if o.clientGID >= 0 && isClientSocket(name) {
		if id, err = shareSocket(p, id, o.clientGID); err != nil {
			return err
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.socks[name] = id
	return o.save()
}

// release removes the socket file name if the record holds it and it is
// still the file recorded (devdir.SameFile); it then leaves the record.
func (o *owner) release(name string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	id, ok := o.socks[name]
	if !ok {
		return nil
	}
	delete(o.socks, name)
	var err error
	if p := o.sockPath(name); devdir.SameFile(p, id) {
		if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = fmt.Errorf("sim: remove socket: %w", rerr)
		}
	}
	return errors.Join(err, o.save())
}

// taken reports whether anything is at the socket file name.
func (o *owner) taken(name string) bool {
	_, err := os.Lstat(o.sockPath(name))
	return err == nil
}

// close releases the lock (the pid written in it is cleared first).
func (o *owner) close() {
	if o.lock == nil {
		return
	}
	_ = o.lock.Truncate(0)
	_ = o.lock.Close()
	o.lock = nil
}

// socketNames are the files in sock/ that role's process binds: its role
// socket first and, for the fingerprint TA, the sensor-control socket (an
// extra endpoint: claimed when the TA serves it).
func socketNames(role tee.Role) []string {
	names := []string{filepath.Base(devdir.SocketPath("", role))}
	if role == tee.RoleFingerprint {
		names = append(names, filepath.Base(SensorSocketPath("")))
	}
	return names
}

// halSocketName is the HAL's socket in sock/.
var halSocketName = filepath.Base(hal.SocketPath(""))

// dialOwn connects to the socket file name and checks with SO_PEERCRED
// that role's current process serves it (the launcher's own pid record);
// a squatter on the path gets no client: the connection is closed and the
// error wraps ErrForeignSocket and tee.ErrTargetDead.
func (d *Device) dialOwn(ctx context.Context, role tee.Role, path string) (net.Conn, error) {
	d.mu.Lock()
	pid := 0
	if p, ok := d.procs[role]; ok {
		pid = p.pid
	}
	stopping := d.stopping
	d.mu.Unlock()
	if stopping {
		return nil, ErrShutdown
	}
	if pid == 0 { // down: whatever is on the path is not its process
		return nil, fmt.Errorf("sim: %w: %s: %w", ErrNotRunning, role, tee.ErrTargetDead)
	}
	var dl net.Dialer
	c, err := dl.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("sim: %s: %w: %w", role, tee.ErrTargetDead, err)
	}
	cred, err := devdir.PeerCred(c)
	if err != nil || int(cred.Pid) != pid {
		c.Close()
		who := "unknown"
		if err == nil {
			who = strconv.Itoa(int(cred.Pid))
		}
		return nil, fmt.Errorf("sim: %w: %s is served by pid %s, not by the device's %s process (pid %d): %w",
			ErrForeignSocket, path, who, role, pid, tee.ErrTargetDead)
	}
	return c, nil
}
