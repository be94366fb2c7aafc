package device

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/devdir"
	"github.com/fpemu/fpemu/tee/rpc"
)

// modePayClient is a payment app process: it opens a session on the
// payment TA (TEEC_LOGIN_USER, or PUBLIC when asked), runs one action and
// prints "<TEEC result hex> <value>". The kernel, not the process, tells
// the TA host who it is.
const modePayClient = "payclient"

// The two app uids of the tests (unprivileged, no passwd entry needed).
const (
	uidOwner = 41001
	uidOther = 41002
)

func runPayClient() int {
	dir := os.Getenv(childEnv + "_DIR")
	action := os.Getenv(childEnv + "_ACTION")
	arg := os.Getenv(childEnv + "_ARG")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, devdir.SocketPath(dir, tee.RolePayment))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	var opts []rpc.SessionOption
	if os.Getenv(childEnv+"_LOGIN") != "public" {
		opts = append(opts, rpc.AsUser())
	}
	s, err := c.OpenSession(ctx, tee.UUIDPayment, nil, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ref := paySceneRef
	if a, sc, ok := strings.Cut(arg, "/"); ok {
		ref = payproto.KeyRef{AppID: a, Scene: sc}
	}
	var out string
	switch action {
	case "create-app":
		_, err = payproto.CreateAppKey{AppID: ref.AppID}.Execute(ctx, s)
	case "create-scene":
		_, err = payproto.CreateSceneKey{Ref: ref, GroupID: 0}.Execute(ctx, s)
	case "cert-app":
		_, err = payproto.GetCert{Ref: payproto.KeyRef{AppID: ref.AppID}}.Execute(ctx, s)
	case "cert-scene":
		_, err = payproto.GetCert{Ref: ref}.Execute(ctx, s)
	case "delete-scene":
		err = payproto.DeleteKey{Ref: ref}.Execute(ctx, s)
	case "delete-app":
		err = payproto.DeleteKey{Ref: payproto.KeyRef{AppID: ref.AppID}}.Execute(ctx, s)
	case "begin":
		var ch uint64
		ch, err = payproto.BeginPayment{Ref: ref}.Execute(ctx, s)
		out = strconv.FormatUint(ch, 10)
	case "sign":
		ch, _ := strconv.ParseUint(os.Getenv(childEnv+"_CHALLENGE"), 10, 64)
		_, err = payproto.SignPayment{Ref: ref, Challenge: ch, Payload: []byte("order")}.Execute(ctx, s)
	case "fill":
		// Create scene keys of ref.AppID until one is refused; print how
		// many were made.
		n := 0
		for ; n < 100; n++ {
			sc := payproto.KeyRef{AppID: ref.AppID, Scene: fmt.Sprint("fill", n)}
			if _, err = (payproto.CreateSceneKey{Ref: sc, GroupID: 0}).Execute(ctx, s); err != nil {
				break
			}
		}
		out = strconv.Itoa(n)
	default:
		fmt.Fprintln(os.Stderr, "unknown action", action)
		return 2
	}
	fmt.Printf("%08x %s\n", uint32(tee.ResultOf(err)), out)
	return 0
}

// payApp runs modePayClient as uid (0 = the test's own uid) and returns
// the TEEC result and the value it printed.
type payApp struct {
	t   *testing.T
	exe string
	dir string
}

func (a payApp) run(uid int, login, action, arg string, challenge uint64) (tee.Result, string) {
	a.t.Helper()
	cmd := exec.Command(a.exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0", childEnv+"="+modePayClient, childEnv+"_DIR="+a.dir,
		childEnv+"_ACTION="+action, childEnv+"_ARG="+arg, childEnv+"_LOGIN="+login,
		childEnv+"_CHALLENGE="+strconv.FormatUint(challenge, 10))
	if uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{appsGroup}}}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(a.t, err, "%s as uid %d: %s", action, uid, stderr.String())
	code, val, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	n, err := strconv.ParseUint(code, 16, 32)
	require.NoError(a.t, err, "%q", out)
	return tee.Result(n), val
}

// requireRoot skips without root (two client uids need CAP_SETUID for
// SysProcAttr.Credential), but fails under CI=true, where the property
// must be shown.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testkit.Unavailable(t, "two client uids need root (SysProcAttr.Credential)")
	}
}

// appsGroup is the device's client group in these tests
// (Config.ClientGroup): the app uids carry it as a supplementary group.
const appsGroup = 41000

// TestPaymentKeysBelongToUID: two payment apps running as two real uids,
// each its own process, against the real payment TA process. The TA host
// learns each one's uid from the kernel (SO_PEERCRED); the keys the first
// creates are its own: every action of the second on them is refused
// (TEEC_ERROR_ACCESS_DENIED) and changes nothing, the owner's payment
// still goes through, TEEC_LOGIN_PUBLIC is refused for app commands, and
// an identity's keys stop at the quota.
func TestPaymentKeysBelongToUID(t *testing.T) {
	requireRoot(t)
	gid := appsGroup
	d := bootDevice(t, func(c *Config) {
		c.Roles = []tee.Role{tee.RoleKeymaster, tee.RolePayment}
		c.ClientGroup = &gid
	})
	// The app uids run a copy of the test binary; the device is shared
	// with them by Config.ClientGroup, which makes only its CA→TA sockets
	// reachable: the TA host's identity checks are what this tests.
	app := payApp{t: t, exe: testkit.ForeignExecutable(t), dir: d.cfg.Dir}
	h := fingerprintHook(t, d)
	relay := session(t, d, tee.RolePayment) // the HAL's relay: PUBLIC, DELIVER only
	require.NoError(t, h.SetFingerList(0, 0xA1, []uint32{1, 2}))
	relayAll(t, h, relay)

	const denied = tee.ResultAccessDenied
	ok := func(r tee.Result, _ string) { t.Helper(); require.Equal(t, tee.Success, r) }
	ok(app.run(uidOwner, "user", "create-app", "", 0))
	ok(app.run(uidOwner, "user", "create-scene", "", 0))

	// The owner's payment in flight: challenge issued and matched.
	r, v := app.run(uidOwner, "user", "begin", "", 0)
	require.Equal(t, tee.Success, r)
	ch, err := strconv.ParseUint(v, 10, 64)
	require.NoError(t, err)
	require.NoError(t, h.SetAuthResult(bio.ResultSuccess, 2, ch, bio.Match{UserID: 9, AuthenticatorID: 0xA1, GroupID: 0}))
	relayAll(t, h, relay)

	for _, tc := range []struct{ action, arg string }{
		{"create-app", ""}, // replace
		{"create-scene", paySceneRef.AppID + "/mine"}, // certify under
		{"create-scene", ""},                          // replace the scene key
		{"cert-app", ""},                              // read
		{"cert-scene", ""},                            // read
		{"begin", ""},                                 // use
		{"sign", ""},                                  // sign, with the owner's challenge
		{"delete-scene", ""},                          // delete
		{"delete-app", ""},                            // delete
	} {
		r, _ := app.run(uidOther, "user", tc.action, tc.arg, ch)
		assert.Equal(t, denied, r, "uid %d: %s %s on uid %d's key", uidOther, tc.action, tc.arg, uidOwner)
	}
	// Spending the owner's challenge and auth result with a key of its own.
	other := "com.other.app/pay"
	ok(app.run(uidOther, "user", "create-app", other, 0))
	ok(app.run(uidOther, "user", "create-scene", other, 0))
	r, _ = app.run(uidOther, "user", "sign", other, ch)
	assert.Equal(t, payproto.ResultNotAuthorized, r, "another identity's challenge authorises nothing")

	// PUBLIC: no identity, no app command — whoever runs it.
	for _, uid := range []int{uidOwner, 0} {
		r, _ := app.run(uid, "public", "cert-scene", "", 0)
		assert.Equal(t, denied, r, "TEEC_LOGIN_PUBLIC as uid %d", uid)
		r, _ = app.run(uid, "public", "sign", "", ch)
		assert.Equal(t, denied, r, "TEEC_LOGIN_PUBLIC as uid %d", uid)
	}
	// Root is just another identity.
	r, _ = app.run(0, "user", "cert-scene", "", 0)
	assert.Equal(t, denied, r, "root's uid is not the owner's")

	// Nothing changed: the owner's payment goes through.
	ok(app.run(uidOwner, "user", "cert-scene", "", 0))
	ok(app.run(uidOwner, "user", "sign", "", ch))

	// Quota: the other identity holds 2 keys; it gets 14 more, then ErrQuota.
	r, v = app.run(uidOther, "user", "fill", other, 0)
	assert.Equal(t, tee.ResultOutOfMemory, r)
	assert.Equal(t, strconv.Itoa(payproto.MaxKeysPerIdentity-2), v)
	ok(app.run(uidOwner, "user", "create-scene", paySceneRef.AppID+"/second", 0)) // the owner's quota is its own
}
