package devdir

import (
	"errors"
	"fmt"
	"net"
	"os"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// PeerCred returns the kernel's credentials of the process at the other
// end of the Unix socket connection c (SO_PEERCRED, unix(7)): for a
// connection accepted by a listener, the connecting process; for a
// connection made by Dial, the process that called listen(2) on the
// socket. They come from the kernel, never from anything the peer says.
func PeerCred(c net.Conn) (*unix.Ucred, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("devdir: peer credentials: %T is not a Unix connection", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("devdir: peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, fmt.Errorf("devdir: peer credentials: %w", err)
	}
	if serr != nil {
		return nil, fmt.Errorf("devdir: peer credentials: %w", serr)
	}
	return cred, nil
}

// ErrNotOwner is why an owner-only listener refused a connection: the
// peer's uid (SO_PEERCRED) is not the device owner's.
var ErrNotOwner = errors.New("devdir: peer is not the device owner")

// ownerOnly is a listener that accepts only connections whose peer runs
// under the uid that owns the device (the process's effective uid), by
// SO_PEERCRED at accept. The socket's and directory's modes are the first
// fence; this one holds even if they are loosened.
type ownerOnly struct {
	net.Listener
	uid int
	log *zap.Logger
}

// OwnerOnly wraps ln so that Accept closes, logs and skips every
// connection whose peer uid is not the effective uid of this process.
// The sensor-control endpoint is served through it: whoever can connect
// there is placing fingers on the sensor.
func OwnerOnly(ln net.Listener, log *zap.Logger) net.Listener {
	return &ownerOnly{Listener: ln, uid: os.Geteuid(), log: log}
}

func (l *ownerOnly) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		cred, err := PeerCred(c)
		if err == nil && int(cred.Uid) == l.uid {
			return c, nil
		}
		c.Close()
		if err == nil {
			err = fmt.Errorf("%w: uid %d (pid %d), owner uid %d", ErrNotOwner, cred.Uid, cred.Pid, l.uid)
		}
		l.log.Warn("connection refused", zap.String("socket", l.Addr().String()), zap.Error(err))
	}
}
