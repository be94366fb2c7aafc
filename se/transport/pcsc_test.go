package transport

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/se/card"
)

// pcscEnv is where a test finds pcscd: its vpcd port and the client
// socket (PCSCLITE_CSOCK_NAME).
type pcscEnv struct {
	vpcd   string
	socket string
	run    string        // the directory bound on /run/pcscd
	conf   string        // its reader.conf
	proc   *testkit.Proc // the running pcscd
}

// needPCSC skips, naming what is missing, or fails under CI=true.
func needPCSC(t *testing.T) {
	t.Helper()
	var missing []string
	for _, b := range []string{"pcscd", "opensc-tool", "unshare"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if _, err := os.Stat("/usr/lib/pcsc/drivers/serial/libifdvpcd.so"); err != nil {
		missing = append(missing, "vsmartcard-vpcd (libifdvpcd.so)")
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "root (pcscd in its own mount namespace)")
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("PC/SC test needs %s (apt-get install pcscd vsmartcard-vpcd opensc util-linux)", strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return p
}

// startPCSCD starts pcscd in the foreground with its own reader.conf (the
// vpcd driver on a free port) and, in its own mount namespace, its own
// /run/pcscd (pcsc-lite 1.9 compiles the daemon's socket path in; its
// clients honour PCSCLITE_CSOCK_NAME), so it neither meets nor disturbs a
// system pcscd. It is killed by pid when the test ends.
func startPCSCD(t *testing.T) *pcscEnv {
	t.Helper()
	dir := testkit.ShortDir(t)
	run := filepath.Join(dir, "run")
	require.NoError(t, os.Mkdir(run, 0o755))
	port := freePort(t)
	conf := filepath.Join(dir, "reader.conf")
	require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil,
		"FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME /dev/null:0x%X\nLIBPATH /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID 0x%X\n", port, port), 0o644))
	env := &pcscEnv{vpcd: fmt.Sprintf("127.0.0.1:%d", port), socket: filepath.Join(run, "pcscd.comm"), run: run, conf: conf}
	env.launch(t)
	return env
}

// launch starts pcscd (unshare execs sh, sh execs pcscd: one pid) and
// waits until its vpcd port and client socket are up.
func (env *pcscEnv) launch(t *testing.T) {
	t.Helper()
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount --bind "$1" /run/pcscd && exec pcscd --foreground --config "$2"`, "sh", env.run, env.conf)
	cmd.Stdout = &testkit.Buffer{}
	env.proc = testkit.Start(t, cmd)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", env.vpcd)
		if _, serr := os.Stat(env.socket); err == nil && serr == nil {
			_ = c.Close()
			break
		}
		if err == nil {
			_ = c.Close()
		}
		select {
		case <-env.proc.Exited():
			t.Fatalf("pcscd exited: %s", env.proc.Stderr())
		default:
		}
		require.True(t, time.Now().Before(deadline), "pcscd did not come up: %s", env.proc.Stderr())
		time.Sleep(50 * time.Millisecond)
	}
}

// restart stops pcscd by pid (SIGTERM, as a package upgrade or systemd
// restart would) and starts it again on the same port and socket.
func (env *pcscEnv) restart(t *testing.T) {
	t.Helper()
	env.proc.Signal(t, syscall.SIGTERM)
	_ = env.proc.Wait(t, 10*time.Second)
	_ = os.Remove(env.socket)
	env.launch(t)
}

// opensc runs opensc-tool against the first vpcd reader with one -s per
// APDU (one card session) and returns the data and SW of each response.
func opensc(t *testing.T, env *pcscEnv, apdus ...string) []string {
	t.Helper()
	args := []string{"-r", "Virtual PCD 00 00"}
	for _, a := range apdus {
		args = append(args, "-s", a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "opensc-tool", args...)
	cmd.Env = append(os.Environ(), "PCSCLITE_CSOCK_NAME="+env.socket)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	re := regexp.MustCompile(`Received \(SW1=0x([0-9A-Fa-f]{2}), SW2=0x([0-9A-Fa-f]{2})\):?((?:\n[0-9A-F]{2}(?: [0-9A-F]{2})*[^\n]*)*)`)
	var res []string
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		var data strings.Builder
		// each line: up to 16 bytes as "XX " (48 columns), then ASCII
		for _, line := range strings.Split(strings.Trim(m[3], "\n"), "\n") {
			line = strings.TrimLeft(line, " \t")
			for i := 0; i+2 <= len(line) && i < 48; i += 3 {
				if !isHex(line[i : i+2]) {
					break
				}
				data.WriteString(line[i : i+2])
			}
		}
		res = append(res, strings.ToUpper(data.String()+m[1]+m[2]))
	}
	require.Len(t, res, len(apdus), "%s", out)
	return res
}

func isHex(s string) bool { _, err := hex.DecodeString(s); return err == nil }

// waitCard waits until pcscd sees the card in the reader.
func waitCard(t *testing.T, env *pcscEnv) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		cmd := exec.Command("opensc-tool", "-r", "Virtual PCD 00 00", "-a")
		cmd.Env = append(os.Environ(), "PCSCLITE_CSOCK_NAME="+env.socket)
		out, err := cmd.CombinedOutput()
		if err == nil && strings.Contains(strings.ToUpper(string(out)), "3B:8A:80:01") {
			return
		}
		require.True(t, time.Now().Before(deadline), "no card in the reader: %s", out)
		time.Sleep(200 * time.Millisecond)
	}
}

const selectHex = "00A4040007F04650454D5501"

func pinBlockHex(pin string) string {
	b := []byte(pin)
	for len(b) < 16 {
		b = append(b, 0xFF)
	}
	return hex.EncodeToString(b)
}

// TestPCSC: the card through real pcscd and vsmartcard's vpcd driver,
// driven by opensc-tool (a PC/SC program that knows nothing of fpemu):
// SELECT, 63C5…63C0 then 6983 for wrong PINs and the right one; on a
// the same card, unblock with the admin PIN (setting a new user PIN),
// generate a key and a signature that verifies. TestPCSCReconnect covers
// a pcscd restart.
func TestPCSC(t *testing.T) {
	needPCSC(t)
	env := startPCSCD(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := card.Open(testkit.ShortDir(t), card.Options{})
	require.NoError(t, err)
	defer c.Close()
	done := make(chan error, 1)
	go func() { done <- ServeVPCD(ctx, c.NewSession, env.vpcd, zap.NewNop()) }()
	waitCard(t, env)

	wrong := "0020000106" + hex.EncodeToString([]byte("999999"))
	res := opensc(t, env, selectHex, "00200001", wrong, wrong, wrong, wrong, wrong, wrong, wrong,
		"0020000106"+hex.EncodeToString([]byte(card.TransportPIN)), "00200001")
	assert.Equal(t, []string{"9000", "63C6", "63C5", "63C4", "63C3", "63C2", "63C1", "63C0", "6983", "6983", "6983"}, res)

	// unblock, change, keygen, sign
	newPIN := "20250601"
	res = opensc(t, env, selectHex,
		"002C000120"+pinBlockHex(card.DefaultAdmin)+pinBlockHex(newPIN),
		"0020000108"+hex.EncodeToString([]byte(newPIN)),
		"0046000000",
		"002A9E9A05"+hex.EncodeToString([]byte("hello"))+"00")
	require.Len(t, res, 5)
	assert.Equal(t, []string{"9000", "9000", "9000"}, res[:3])
	require.True(t, strings.HasSuffix(res[3], "9000") && strings.HasPrefix(res[3], "7F4943864104"), res[3])
	pt, err := hex.DecodeString(res[3][10 : 10+130])
	require.NoError(t, err)
	pub, err := card.ParsePoint(pt)
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(res[4], "9000"), res[4])
	sig, err := hex.DecodeString(strings.TrimSuffix(res[4], "9000"))
	require.NoError(t, err)
	assert.True(t, sm2.VerifyASN1WithSM2((*ecdsa.PublicKey)(pub), nil, []byte("hello"), sig), "signature through PC/SC verifies")
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("ServeVPCD did not stop")
	}
}
