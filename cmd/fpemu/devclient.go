package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// The device helpers (`fpemu gatekeeper`, `fpemu sensor`) talk to one TA
// socket of a running device so that a harness in any language needs no
// CA→TA framing. Their exit statuses extend the binary's (root.go):
//
//	0  success
//	1  the TA refused the request: a wrong password (Gatekeeper), a sample or
//	   fault the sensor rejects
//	2  usage error
//	3  Gatekeeper throttling: ERROR_RETRY_TIMEOUT, retry after retry_timeout_ms
//	4  the socket is unreachable (missing, nothing listening), serves another
//	   TA, or does not speak the CA→TA protocol
//	5  the TA failed otherwise: a TEEC error, a malformed answer, or a HAT
//	   that is not the one asked for
//
// With --json the outcome is one JSON object on stdout, also on failure:
// "ok" true or false, and on failure "error" (one of the errKind values
// below) and "message"; stderr carries the message as for every fpemu
// error.
const (
	exitThrottled   = 3
	exitUnreachable = 4
	exitDevice      = 5
)

// errKind names a device helper's failure in its JSON ("error").
type errKind string

// Failure kinds of the device helpers, with their exit statuses.
const (
	kindWrongPassword errKind = "wrong_password" // exit 1
	kindRefused       errKind = "refused"        // exit 1
	kindRetryTimeout  errKind = "retry_timeout"  // exit 3
	kindUnreachable   errKind = "unreachable"    // exit 4
	kindWrongTA       errKind = "wrong_ta"       // exit 4
	kindNotTA         errKind = "not_a_ta"       // exit 4
	kindDevice        errKind = "device_error"   // exit 5
	kindBadHAT        errKind = "bad_hat"        // exit 5
)

// exitCode is the exit status of kind.
func (k errKind) exitCode() int {
	switch k {
	case kindWrongPassword, kindRefused:
		return exitFailure
	case kindRetryTimeout:
		return exitThrottled
	case kindUnreachable, kindWrongTA, kindNotTA:
		return exitUnreachable
	}
	return exitDevice
}

// helperError is a device helper's failure: its kind and the cause. Its
// message never holds a password or other input secret.
type helperError struct {
	Kind errKind
	Err  error
}

func (e *helperError) Error() string { return e.Err.Error() }
func (e *helperError) Unwrap() error { return e.Err }

// fail wraps err as a failure of kind with kind's exit status.
func fail(kind errKind, err error) error {
	return &exitError{code: kind.exitCode(), err: &helperError{Kind: kind, Err: err}}
}

// targetFlags select the TA socket: --device DIR (the documented layout,
// docs/protocol.md §7) or --socket PATH.
type targetFlags struct {
	device, socket string
	timeout        time.Duration
}

func (t *targetFlags) register(cmd *cobra.Command, socketName string) {
	f := cmd.Flags()
	f.StringVar(&t.device, "device", "", "device directory of 'fpemu device up': use DIR/sock/"+socketName)
	f.StringVar(&t.socket, "socket", "", "the socket itself (a device of your own)")
	f.DurationVar(&t.timeout, "timeout", 10*time.Second, "give up after this long (connect and command)")
	cmd.MarkFlagsMutuallyExclusive("device", "socket")
	cmd.MarkFlagsOneRequired("device", "socket")
}

// path resolves the socket; fromDir maps a device directory to it.
func (t *targetFlags) path(fromDir func(string) string) (string, error) {
	if t.timeout <= 0 {
		return "", usageErrorf("--timeout must be positive")
	}
	if t.device != "" {
		return fromDir(t.device), nil
	}
	return t.socket, nil
}

// openTA connects to the TA host at path and opens a session on uuid. Its
// failures are exit 4: nothing listening (unreachable), a host that does
// not serve uuid (wrong_ta), or a peer that does not answer as a TA host
// (not_a_ta).
func openTA(ctx context.Context, path string, uuid tee.UUID, what string) (*rpc.Client, *rpc.Session, error) {
	if fi, err := os.Stat(path); err != nil {
		return nil, nil, fail(kindUnreachable, fmt.Errorf("%s socket %s: %w", what, path, err))
	} else if fi.Mode().Type() != os.ModeSocket {
		return nil, nil, fail(kindNotTA, fmt.Errorf("%s socket %s: not a socket (%v)", what, path, fi.Mode().Type()))
	}
	c, err := rpc.Dial(ctx, path)
	if err != nil {
		return nil, nil, fail(kindUnreachable, fmt.Errorf("%s socket %s: %w", what, path, err))
	}
	s, err := c.OpenSession(ctx, uuid, nil)
	if err != nil {
		c.Close()
		kind := kindNotTA
		switch {
		case errors.Is(err, tee.ErrItemNotFound):
			kind = kindWrongTA
			err = fmt.Errorf("%w (the socket serves another TA)", err)
		case errors.Is(err, tee.ErrAccessDenied):
			kind = kindUnreachable
		}
		return nil, nil, fail(kind, fmt.Errorf("%s socket %s: open session: %w", what, path, err))
	}
	return c, s, nil
}

// withTA opens a session on uuid at path (see openTA) and runs fn on it,
// all within timeout.
func withTA(cmd *cobra.Command, timeout time.Duration, path string, uuid tee.UUID, what string,
	fn func(context.Context, *rpc.Session) error) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	c, s, err := openTA(ctx, path, uuid, what)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(ctx, s)
}

// invokeErr classifies the error of a command on an open session: the
// connection lost is exit 4, a TEEC result from the TA is refusedKind.
func invokeErr(err error, refusedKind errKind, format string, args ...any) error {
	err = fmt.Errorf(format+": %w", append(args, err)...)
	var te *tee.Error
	switch {
	case errors.Is(err, tee.ErrTargetDead), errors.Is(err, context.DeadlineExceeded):
		return fail(kindUnreachable, err)
	case errors.As(err, &te) && (te.Origin == tee.OriginTrustedApp || te.Origin == tee.OriginTEE):
		return fail(refusedKind, err)
	}
	return fail(kindDevice, err)
}

// jsonOutcome prints obj with "ok" and, for a failure, "error" and
// "message" added, as one JSON line (keys sorted; integers exact over
// the full 64-bit range, as "fpemu token decode" prints them).
func jsonOutcome(w io.Writer, obj map[string]any, err error) {
	obj["ok"] = err == nil
	if err != nil {
		var he *helperError
		if errors.As(err, &he) {
			obj["error"] = he.Kind
		} else {
			obj["error"] = kindDevice
		}
		obj["message"] = err.Error()
	}
	_ = json.NewEncoder(w).Encode(obj)
}

// outcome prints a device helper's result: obj as one JSON object with
// --json (also on failure), else, on success, text() as one line.
func outcome(cmd *cobra.Command, asJSON bool, obj map[string]any, err error, text func() string) error {
	if asJSON {
		jsonOutcome(cmd.OutOrStdout(), obj, err)
		return err
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(cmd.OutOrStdout(), text())
	return err
}
