package rpc

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/wire"
)

// ClientNamespace is the UUIDv5 namespace of client identities,
// tee_client_uuid_ns of Linux drivers/tee/tee_core.c: OP-TEE's TAs see
// TEEC_LOGIN_USER and TEEC_LOGIN_GROUP clients under it, and so do fpemu's.
var ClientNamespace = tee.MustParseUUID("58ac9ca0-2086-4683-a1b8-ec4bc08e01b6")

// Credentials are a client process's credentials as the kernel reported
// them for its connection (SO_PEERCRED: the effective ids at connect(2);
// SO_PEERGROUPS: its supplementary groups).
type Credentials struct {
	PID    int32
	UID    uint32
	GID    uint32
	Groups []uint32
}

// inGroup reports whether gid is the effective gid or a supplementary
// group: Linux's in_egroup_p, the check tee_session_calc_client_uuid makes
// for TEEC_LOGIN_GROUP.
func (c *Credentials) inGroup(gid uint32) bool {
	return c.GID == gid || slices.Contains(c.Groups, gid)
}

// ClientIdentity is who the client of a session is, as the TA host
// established it at OPEN_SESSION (docs/protocol.md §1.12): the login method
// the client chose, the kernel's credentials of the connecting process and
// the GP identity derived from both. A TA reads it with ClientFrom; nothing
// a client sends in a parameter can set it.
type ClientIdentity struct {
	// Login is the method of OPEN_SESSION.
	Login tee.Login
	// PID, UID and GID are SO_PEERCRED's (zero without kernel
	// credentials, which only a TEEC_LOGIN_PUBLIC session can have).
	PID int32
	UID uint32
	GID uint32
	// Group is the gid a TEEC_LOGIN_GROUP session logged in as (verified
	// to be one of the client's groups), 0 otherwise.
	Group uint32
	// UUID is the client identity GP TAs see (TEE_Identity.uuid):
	// ClientUUID(Login, UID, Group); the nil UUID for TEEC_LOGIN_PUBLIC.
	UUID tee.UUID
}

// Public reports whether the session has no identity (TEEC_LOGIN_PUBLIC).
func (id ClientIdentity) Public() bool { return id.Login == tee.LoginPublic }

type identityKey struct{}

// withClient returns ctx carrying id.
func withClient(ctx context.Context, id ClientIdentity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// ClientFrom returns the identity of the session a TA entry point runs for
// (OpenSession and every Invoke of that session get it in their context).
// ok is false outside a TA host, e.g. for a TA called in process.
func ClientFrom(ctx context.Context) (id ClientIdentity, ok bool) {
	id, ok = ctx.Value(identityKey{}).(ClientIdentity)
	return id, ok
}

// ContextWithClient returns ctx carrying id, for tests and in-process
// callers that stand in for a TA host. The host itself always overrides it
// with what the kernel said.
func ContextWithClient(ctx context.Context, id ClientIdentity) context.Context {
	return withClient(ctx, id)
}

// ClientUUID derives the GP client identity of a login the way Linux's
// tee_session_calc_client_uuid (drivers/tee/tee_core.c) does: the nil UUID
// for TEEC_LOGIN_PUBLIC; otherwise a name-based UUID, version 5 (RFC 4122
// §4.3, SHA-1), in ClientNamespace over "uid=%x" (TEEC_LOGIN_USER, uid)
// or "gid=%x" (TEEC_LOGIN_GROUP, gid). Other methods have no identity here
// (ok false).
func ClientUUID(login tee.Login, uid, gid uint32) (u tee.UUID, ok bool) {
	var name string
	switch login {
	case tee.LoginPublic:
		return tee.UUID{}, true
	case tee.LoginUser:
		name = "uid=" + strconv.FormatUint(uint64(uid), 16)
	case tee.LoginGroup:
		name = "gid=" + strconv.FormatUint(uint64(gid), 16)
	default:
		return tee.UUID{}, false
	}
	h := sha1.New()
	h.Write(ClientNamespace[:])
	h.Write([]byte(name))
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0F | 0x50 // version 5
	u[8] = u[8]&0x3F | 0x80 // RFC 4122 variant
	return u, true
}

// errNoCredentials: the connection is not a Unix socket, or the kernel
// would not say who is at the other end.
var errNoCredentials = errors.New("rpc: no kernel credentials for the connection")

// peerCredentials asks the kernel who is at the other end of nc
// (SO_PEERCRED and SO_PEERGROUPS on a Unix socket).
func peerCredentials(nc net.Conn) (Credentials, error) {
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return Credentials{}, errNoCredentials
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Credentials{}, fmt.Errorf("%w: %w", errNoCredentials, err)
	}
	var cred Credentials
	var serr error
	err = raw.Control(func(fd uintptr) {
		var uc *unix.Ucred
		uc, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if serr != nil {
			return
		}
		cred = Credentials{PID: uc.Pid, UID: uc.Uid, GID: uc.Gid}
		cred.Groups, serr = peerGroups(int(fd))
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return Credentials{}, fmt.Errorf("%w: %w", errNoCredentials, err)
	}
	return cred, nil
}

// maxPeerGroups bounds the supplementary groups read (Linux's NGROUPS_MAX
// is 65536).
const maxPeerGroups = 65536

// peerGroups reads SO_PEERGROUPS (Linux ≥ 4.13): the peer's supplementary
// groups at connect(2), as native-endian gid_t values.
func peerGroups(fd int) ([]uint32, error) {
	for n := 64; n <= maxPeerGroups; n *= 4 {
		buf := make([]byte, 4*n)
		size := uint32(len(buf))
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
		switch errno {
		case 0:
			out := make([]uint32, size/4)
			for i := range out {
				out[i] = binary.NativeEndian.Uint32(buf[4*i:])
			}
			return out, nil
		case unix.ERANGE:
			continue
		default:
			return nil, errno
		}
	}
	return nil, unix.ERANGE
}

// authenticate decides an OPEN_SESSION's login (docs/protocol.md §1.12):
// the identity of the session, or the TEEC result refusing it (origin TEE).
// cred is nil when the kernel gave no credentials.
func authenticate(f *wire.Frame, cred *Credentials) (ClientIdentity, tee.Result) {
	if f.Login != tee.LoginGroup && f.ConnData != 0 {
		return ClientIdentity{}, tee.ResultBadParameters // connectionData only means something for GROUP
	}
	id := ClientIdentity{Login: f.Login}
	if cred != nil {
		id.PID, id.UID, id.GID = cred.PID, cred.UID, cred.GID
	}
	switch f.Login {
	case tee.LoginPublic:
		return id, tee.Success
	case tee.LoginUser, tee.LoginGroup:
	case tee.LoginApplication, tee.LoginUserApplication, tee.LoginGroupApplication:
		// As Linux without an application-id provider: /proc/PID/exe after
		// accept races with pid reuse.
		return ClientIdentity{}, tee.ResultNotSupported
	default:
		return ClientIdentity{}, tee.ResultBadParameters
	}
	if cred == nil {
		return ClientIdentity{}, tee.ResultAccessDenied
	}
	if f.Login == tee.LoginGroup {
		if !cred.inGroup(f.ConnData) {
			return ClientIdentity{}, tee.ResultAccessDenied // tee_core.c: !in_egroup_p → -EPERM
		}
		id.Group = f.ConnData
	}
	id.UUID, _ = ClientUUID(id.Login, id.UID, id.Group)
	return id, tee.Success
}
