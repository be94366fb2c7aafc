package device

import (
	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"

	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/devdir"
	"github.com/fpemu/fpemu/tokens"
)

// encodings returns the forms a leaked secret could take in a log line,
// argv or env.
func encodings(secret []byte) []string {
	return []string{
		string(secret),
		hex.EncodeToString(secret),
		strings.ToUpper(hex.EncodeToString(secret)),
		base64.StdEncoding.EncodeToString(secret),
		base64.RawURLEncoding.EncodeToString(secret),
	}
}

// TestSecretsStayOnFD3 checks docs/architecture.md rule 2 on real TA processes: no
// key (fused, storage, envelope, Keymaster's auth-token key) and no
// password appears in any TA's argv, environment or log output; every log
// line is JSON with the TA's component; the inherited record and readiness
// pipes are closed once used; the device files are private.
func TestSecretsStayOnFD3(t *testing.T) {
	logs := &testkit.Buffer{}
	d := bootDevice(t, func(c *Config) { c.Stderr = logs })
	password := []byte("hunter2-hunter2")

	gk := session(t, d, tee.RoleGatekeeper)
	km := session(t, d, tee.RoleKeymaster)
	handle, _ := enroll(t, gk, 9, password)
	require.Equal(t, gkproto.StatusOK, verify(t, gk, 9, 1, handle, password).Status)
	env, err := kmproto.GetAuthTokenKey{Recipient: tee.UUIDGatekeeper}.Execute(testCtx(t), km)
	require.NoError(t, err)
	// The per-boot auth-token key, opened as Gatekeeper would: it never
	// leaves Keymaster in the clear and must not reach a log either.
	hatKey, err := opener(t, d, tee.RoleGatekeeper).Open(env)
	require.NoError(t, err)
	require.Len(t, hatKey.Payload, tokens.KeySize)

	secrets := [][]byte{password, hatKey.Payload}
	fused, err := os.ReadFile(filepath.Join(d.Dir(), "fused.key"))
	require.NoError(t, err)
	secrets = append(secrets, fused)
	for _, r := range d.Roles() {
		rec, err := d.boot.Provision(r)
		require.NoError(t, err)
		secrets = append(secrets, append([]byte(nil), rec.StorageKey[:]...))
		for _, k := range rec.Keys {
			secrets = append(secrets, append([]byte(nil), k[:]...))
		}
		rec.Wipe()
	}

	procText := map[string]string{}
	for _, r := range d.Roles() {
		pid, err := d.PID(r)
		require.NoError(t, err)
		proc := "/proc/" + itoa(pid)
		for _, f := range []string{"cmdline", "environ"} {
			b, err := os.ReadFile(proc + "/" + f)
			require.NoError(t, err)
			procText[string(r)+" "+f] = string(b)
		}
		// The record (fd 3) and readiness (fd 4) pipes were closed after
		// use; the numbers may have been reused, but not by a pipe.
		for _, fd := range []string{"3", "4"} {
			if target, err := os.Readlink(proc + "/fd/" + fd); err == nil {
				assert.False(t, strings.HasPrefix(target, "pipe:"), "%s fd %s is still %s", r, fd, target)
			}
		}
		fi, err := os.Stat(devdir.DataDir(d.Dir(), r))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "%s data dir", r)
	}
	require.NoError(t, shutdown(t, d))

	out := logs.String()
	for _, r := range d.Roles() {
		assert.Contains(t, out, `"component":"`+string(r)+`"`, "every TA logs with its component")
	}
	// Every line a TA writes is a zap JSON line naming its component.
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var fields map[string]any
		if assert.NoError(t, json.Unmarshal([]byte(line), &fields), "not a JSON log line: %q", line) {
			assert.Contains(t, tee.Roles, tee.Role(fmt.Sprint(fields["component"])), "line without a TA component: %q", line)
		}
	}
	procText["TA logs"] = out
	for where, text := range procText {
		for i, s := range secrets {
			for _, enc := range encodings(s) {
				assert.NotContains(t, text, enc, "secret %d leaked into %s", i, where)
			}
		}
	}
}
