package tee

import "fmt"

// Login is a TEEC connection (login) method, the connectionMethod argument
// of TEEC_OpenSession (GPD_SPE_007 §4.5.2 "Connection Methods"). It says
// which identity of the client the TEE is asked to vouch for; the TEE
// derives that identity itself (in fpemu: from the socket's kernel
// credentials), never from the client's word.
type Login uint32

// GP login methods, with GPD_SPE_007's values.
const (
	LoginPublic           Login = 0x00000000 // TEEC_LOGIN_PUBLIC: no identity
	LoginUser             Login = 0x00000001 // TEEC_LOGIN_USER: the client's effective uid
	LoginGroup            Login = 0x00000002 // TEEC_LOGIN_GROUP: a group the client is a member of (connectionData = gid)
	LoginApplication      Login = 0x00000004 // TEEC_LOGIN_APPLICATION: the client's executable
	LoginUserApplication  Login = 0x00000005 // TEEC_LOGIN_USER_APPLICATION
	LoginGroupApplication Login = 0x00000006 // TEEC_LOGIN_GROUP_APPLICATION
)

var loginNames = map[Login]string{
	LoginPublic:           "TEEC_LOGIN_PUBLIC",
	LoginUser:             "TEEC_LOGIN_USER",
	LoginGroup:            "TEEC_LOGIN_GROUP",
	LoginApplication:      "TEEC_LOGIN_APPLICATION",
	LoginUserApplication:  "TEEC_LOGIN_USER_APPLICATION",
	LoginGroupApplication: "TEEC_LOGIN_GROUP_APPLICATION",
}

// String returns the GP name, or the hex value of an unknown method.
func (l Login) String() string {
	if n, ok := loginNames[l]; ok {
		return n
	}
	return fmt.Sprintf("login(0x%08X)", uint32(l))
}
