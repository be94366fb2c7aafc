package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/devdir"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tokens"
)

func init() { subcommands = append(subcommands, newGatekeeperCmd) }

const gatekeeperExitDoc = `Exit status: 0 success; 1 wrong password (ERROR_GENERAL_FAILURE: Gatekeeper
gives the same answer for a handle that is not this user's); 2 usage error;
3 throttled (ERROR_RETRY_TIMEOUT: retry after retry_timeout_ms — AOSP
Gatekeeper answers so from the 5th failure on, that attempt included);
4 socket unreachable, serving another TA, or not a TA socket; 5 any other
device failure (a TEEC error, a malformed answer, a HAT not the one asked
for). With --json one JSON object is printed on stdout also on failure, with
"ok": false, "error" (wrong_password, retry_timeout, unreachable, wrong_ta,
not_a_ta, device_error, bad_hat) and "message".`

const passwordInputDoc = `The password never travels in argv or the environment: it is read from stdin
(default), from --password-file PATH or from an inherited descriptor
(--password-fd N). The input is one line per password; its newline is not
part of the password (so a password cannot contain a newline byte; any
other bytes, up to 256, are taken as they are).`

func newGatekeeperCmd() *cobra.Command {
	return newGroup("gatekeeper",
		"Enroll and verify a password in a device's Gatekeeper TA",
		`Drive the Gatekeeper TA of a running device (fpemu device up, or your own
TEE on the same socket protocol, docs/protocol.md §3) the way gatekeeperd does:
enroll a password to get its handle, verify it against a challenge to get a
PASSWORD hw_auth_token_t — the HAT the fingerprint HAL's enroll needs for its
preEnroll challenge.

`+gatekeeperExitDoc,
		newGatekeeperEnrollCmd(), newGatekeeperVerifyCmd())
}

// passwordFlags select where passwords are read from.
type passwordFlags struct {
	file string
	fd   int
}

func (p *passwordFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&p.file, "password-file", "-", `file holding the password line(s); "-" is stdin`)
	f.IntVar(&p.fd, "password-fd", -1, "read the password line(s) from this inherited file descriptor")
	cmd.MarkFlagsMutuallyExclusive("password-file", "password-fd")
}

// read returns exactly n passwords. Errors are usage errors and never
// quote the input.
func (p *passwordFlags) read(cmd *cobra.Command, n int) ([][]byte, error) {
	var r io.Reader
	src := "stdin"
	switch {
	case cmd.Flags().Changed("password-fd"):
		if p.fd < 0 {
			return nil, usageErrorf("--password-fd %d: not a descriptor", p.fd)
		}
		f := os.NewFile(uintptr(p.fd), fmt.Sprintf("fd %d", p.fd))
		if f == nil {
			return nil, usageErrorf("--password-fd %d: not a descriptor", p.fd)
		}
		defer f.Close()
		r, src = f, fmt.Sprintf("--password-fd %d", p.fd)
	case p.file != "-":
		f, err := os.Open(p.file)
		if err != nil {
			return nil, usageErrorf("--password-file: %v", err)
		}
		defer f.Close()
		r, src = f, "--password-file "+p.file
	default:
		r = cmd.InOrStdin()
	}
	max := n * (gkproto.MaxPasswordSize + 2)
	b, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, usageErrorf("reading the password from %s: %v", src, err)
	}
	defer clear(b)
	if len(b) > max {
		return nil, usageErrorf("%s: more than %d bytes (passwords are at most %d bytes)", src, max, gkproto.MaxPasswordSize)
	}
	body := bytes.TrimSuffix(b, []byte("\n"))
	lines := bytes.Split(body, []byte("\n"))
	if len(b) == 0 {
		lines = nil
	}
	if len(lines) != n {
		return nil, usageErrorf("%s: %d line(s), want %d (one password a line)", src, len(lines), n)
	}
	out := make([][]byte, n)
	for i, l := range lines {
		switch {
		case len(l) == 0:
			return nil, usageErrorf("%s: line %d: empty password", src, i+1)
		case len(l) > gkproto.MaxPasswordSize:
			return nil, usageErrorf("%s: line %d: password of %d bytes, at most %d", src, i+1, len(l), gkproto.MaxPasswordSize)
		}
		out[i] = bytes.Clone(l)
	}
	return out, nil
}

func clearAll(bs [][]byte) {
	for _, b := range bs {
		clear(b)
	}
}

// parseHandleHex parses a password handle given as hex.
func parseHandleHex(s, what string) ([]byte, gkproto.PasswordHandle, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, gkproto.PasswordHandle{}, usageErrorf("%s: not hex", what)
	}
	h, err := gkproto.ParseHandle(b)
	if err != nil {
		return nil, gkproto.PasswordHandle{}, usageErrorf("%s: %v", what, err)
	}
	return b, h, nil
}

// statusErr classifies a Gatekeeper status that is not a success.
func statusErr(st gkproto.Status, retryMs uint32, op string) error {
	err := fmt.Errorf("gatekeeper %s: %w", op, st.Err(retryMs))
	switch st {
	case gkproto.ErrorGeneralFailure:
		return fail(kindWrongPassword, err)
	case gkproto.ErrorRetryTimeout:
		return fail(kindRetryTimeout, err)
	}
	return fail(kindDevice, err)
}

func newGatekeeperEnrollCmd() *cobra.Command {
	var (
		tf            targetFlags
		pf            passwordFlags
		uid           uint32
		currentHandle string
		asJSON        bool
	)
	c := &cobra.Command{
		Use:   "enroll (--device DIR | --socket PATH) [--uid N] [--current-handle HEX] [--json] < password",
		Short: "Enroll a password; print its password handle (hex)",
		Long: `Enroll a password for Android user --uid in the device's Gatekeeper (GK_ENROLL,
docs/protocol.md §3.2) and print the 58-byte password handle as hex: what
gatekeeperd stores and what "verify" needs. Without --current-handle this is
an untrusted enroll under a new secure user id (SID); with it, a trusted
re-enroll that keeps the SID: the input then holds two lines, the current
password and the new one.

` + passwordInputDoc + `

--json prints {"ok":true,"uid":N,"sid":N,"handle":"hex","status":"STATUS_OK",
"status_code":0} (on failure also "retry_timeout_ms", "error", "message").

` + gatekeeperExitDoc,
		Example: `  printf '%s\n' "$PIN" | fpemu gatekeeper enroll --device /tmp/dev --uid 10 > handle.hex
  fpemu gatekeeper enroll --device /tmp/dev --uid 10 --password-file pin.txt --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := tf.path(func(dir string) string { return devdir.SocketPath(dir, tee.RoleGatekeeper) })
			if err != nil {
				return err
			}
			req := gkproto.Enroll{UID: uid}
			n := 1
			if cmd.Flags().Changed("current-handle") {
				if req.CurrentHandle, _, err = parseHandleHex(currentHandle, "--current-handle"); err != nil {
					return err
				}
				n = 2
			}
			pws, err := pf.read(cmd, n)
			if err != nil {
				return err
			}
			defer clearAll(pws)
			if n == 2 {
				req.CurrentPassword = pws[0]
			}
			req.DesiredPassword = pws[n-1]

			obj := map[string]any{"uid": uid}
			err = withTA(cmd, tf.timeout, path, tee.UUIDGatekeeper, "gatekeeper", func(ctx context.Context, s *rpc.Session) error {
				rsp, err := req.Execute(ctx, s)
				if err != nil {
					return invokeErr(err, kindDevice, "gatekeeper ENROLL")
				}
				if err := gkStatus(obj, rsp.Status, rsp.RetryTimeoutMs, "ENROLL", gkproto.StatusOK); err != nil {
					return err
				}
				obj["sid"], obj["handle"] = rsp.SecureUserID, hex.EncodeToString(rsp.Handle)
				return nil
			})
			return outcome(cmd, asJSON, obj, err, func() string { return obj["handle"].(string) })
		},
	}
	tf.register(c, "gatekeeper.sock")
	pf.register(c)
	f := c.Flags()
	f.Uint32Var(&uid, "uid", 0, "Android user id")
	f.StringVar(&currentHandle, "current-handle", "", "the enrolled handle (hex): a trusted re-enroll; input line 1 is then the current password")
	f.BoolVar(&asJSON, "json", false, "print one JSON object (also on failure)")
	return c
}

func newGatekeeperVerifyCmd() *cobra.Command {
	var (
		tf         targetFlags
		pf         passwordFlags
		uid        uint32
		challenge  uint64
		handleHex  string
		handleFile string
		asJSON     bool
	)
	c := &cobra.Command{
		Use:   "verify (--device DIR | --socket PATH) (--handle HEX | --handle-file PATH) [--uid N] [--challenge N] [--json] < password",
		Short: "Verify a password; print the PASSWORD auth token (HAT, hex)",
		Long: `Verify a password of Android user --uid against its enrolled handle with
--challenge (GK_VERIFY, docs/protocol.md §3.2) and print Gatekeeper's 69-byte
hw_auth_token_t as hex, as "fpemu token mint" prints one ("fpemu token decode"
reads it). The challenge is what the token is for: the fingerprint HAL's
preEnroll value before an enrollment, an operation handle, or 0.

The token is checked before it is printed: authenticator_type PASSWORD,
user_id the handle's SID, challenge --challenge; anything else is exit 5
(bad_hat). Its MAC is Keymaster's to check (fpemu token verify with the key).

` + passwordInputDoc + `

--json prints {"ok":true,"uid":N,"challenge":N,"status":"STATUS_OK",
"status_code":0,"request_reenroll":false,"hat":"hex","token":{…}}, "token"
being the object "fpemu token decode" prints (on failure "retry_timeout_ms",
"error" and "message" instead of the token).

` + gatekeeperExitDoc,
		Example: `  printf '%s\n' "$PIN" | fpemu gatekeeper verify --device /tmp/dev --uid 10 \
      --handle-file handle.hex --challenge 0x1234 > hat.hex
  fpemu token decode "$(cat hat.hex)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := tf.path(func(dir string) string { return devdir.SocketPath(dir, tee.RoleGatekeeper) })
			if err != nil {
				return err
			}
			what := "--handle"
			if handleFile != "" {
				b, err := os.ReadFile(handleFile)
				if err != nil {
					return usageErrorf("--handle-file: %v", err)
				}
				handleHex, what = string(b), "--handle-file "+handleFile
			}
			handle, h, err := parseHandleHex(handleHex, what)
			if err != nil {
				return err
			}
			pws, err := pf.read(cmd, 1)
			if err != nil {
				return err
			}
			defer clearAll(pws)

			obj := map[string]any{"uid": uid, "challenge": challenge}
			err = withTA(cmd, tf.timeout, path, tee.UUIDGatekeeper, "gatekeeper", func(ctx context.Context, s *rpc.Session) error {
				rsp, err := gkproto.Verify{UID: uid, Challenge: challenge, Handle: handle, Password: pws[0]}.Execute(ctx, s)
				if err != nil {
					return invokeErr(err, kindDevice, "gatekeeper VERIFY")
				}
				if err := gkStatus(obj, rsp.Status, rsp.RetryTimeoutMs, "VERIFY", gkproto.StatusOK, gkproto.StatusReenroll); err != nil {
					return err
				}
				obj["request_reenroll"] = rsp.RequestReenroll
				t := rsp.Token
				obj["hat"], obj["token"] = hex.EncodeToString(t.Marshal()), newDecodedToken(t)
				switch {
				case t.AuthenticatorType != tokens.AuthPassword:
					return fail(kindBadHAT, fmt.Errorf("gatekeeper VERIFY: token type %v, want PASSWORD", t.AuthenticatorType))
				case t.UserID != h.UserID:
					return fail(kindBadHAT, fmt.Errorf("gatekeeper VERIFY: token user_id %d, want the handle's SID %d", t.UserID, h.UserID))
				case t.Challenge != challenge:
					return fail(kindBadHAT, fmt.Errorf("gatekeeper VERIFY: token challenge %d, want %d", t.Challenge, challenge))
				}
				return nil
			})
			return outcome(cmd, asJSON, obj, err, func() string { return obj["hat"].(string) })
		},
	}
	tf.register(c, "gatekeeper.sock")
	pf.register(c)
	f := c.Flags()
	f.Uint32Var(&uid, "uid", 0, "Android user id")
	f.Uint64Var(&challenge, "challenge", 0, "the challenge the token is for (preEnroll value, operation handle)")
	f.StringVar(&handleHex, "handle", "", "the enrolled password handle, hex (as enroll prints it)")
	f.StringVar(&handleFile, "handle-file", "", "file holding the handle as hex")
	c.MarkFlagsMutuallyExclusive("handle", "handle-file")
	c.MarkFlagsOneRequired("handle", "handle-file")
	f.BoolVar(&asJSON, "json", false, "print one JSON object (also on failure)")
	return c
}

// gkStatus records a Gatekeeper answer's status in obj and, unless it is one
// of ok, its retry timeout too, returning the status's error for op.
func gkStatus(obj map[string]any, st gkproto.Status, retryMs uint32, op string, ok ...gkproto.Status) error {
	obj["status"], obj["status_code"] = st.String(), int32(st)
	if slices.Contains(ok, st) {
		return nil
	}
	obj["retry_timeout_ms"] = retryMs
	return statusErr(st, retryMs, op)
}
