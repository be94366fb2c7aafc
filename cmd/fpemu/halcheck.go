package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fpemu/fpemu/hal/halclient"
)

// halProbeTimeout bounds each step of checkHAL's probe of a --hal socket:
// a socket that accepts and then says nothing (a CA→TA server waiting for
// a frame) costs at most this long, never a hang.
const halProbeTimeout = 2 * time.Second

// Why a --hal target is not a HAL. errHALNotSocket and errHALMissing are
// the caller's mistake; errHALNotGRPC a socket of something else.
var (
	errHALMissing   = errors.New("no such file")
	errHALNotSocket = errors.New("not a socket")
	errHALNotGRPC   = errors.New("not the fingerprint HAL's gRPC")
)

// halTargetError says what a --hal target is and what to pass instead.
type halTargetError struct {
	Path string
	What string // "a directory", "Keymaster's…", …
	Err  error  // errHALMissing, errHALNotSocket or errHALNotGRPC
}

func (e *halTargetError) Error() string {
	return fmt.Sprintf("--hal %s: %s; the fingerprint HAL serves DEVICE_DIR/sock/hal.sock — for a device of `fpemu device up --dir DEVICE_DIR` pass --device DEVICE_DIR",
		e.Path, e.What)
}

func (e *halTargetError) Unwrap() error { return e.Err }

// http2Preface is what every HTTP/2 (so gRPC) client sends first, with an
// empty SETTINGS frame (RFC 9113 §3.4); a server answers with its own
// SETTINGS frame.
var http2Preface = append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0)

// checkHAL tells a --hal path that is no HAL from one that is down or
// slow: it must exist, be a socket, answer the HTTP/2 preface with a
// SETTINGS frame, and serve the north API's GetAuthenticatorId (any
// answer but UNIMPLEMENTED; a read-only call). A gRPC "unix:" target is
// left to the dial. Each step is bounded by halProbeTimeout.
func checkHAL(ctx context.Context, path string) error {
	if strings.HasPrefix(path, "unix:") || strings.HasPrefix(path, "unix-abstract:") {
		return nil
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &halTargetError{Path: path, What: "nothing there (no such file; is the device up?)", Err: errHALMissing}
	case err != nil:
		return &halTargetError{Path: path, What: "cannot be examined (" + err.Error() + ")", Err: errHALNotSocket}
	case fi.IsDir():
		return &halTargetError{Path: path, What: "a directory, not a socket", Err: errHALNotSocket}
	case fi.Mode().IsRegular():
		return &halTargetError{Path: path, What: "a regular file, not a socket", Err: errHALNotSocket}
	case fi.Mode()&fs.ModeSocket == 0:
		return &halTargetError{Path: path, What: "a " + fi.Mode().Type().String() + " file, not a socket", Err: errHALNotSocket}
	}
	what, ok := probeHTTP2(path)
	if !ok {
		return &halTargetError{Path: path, What: "a socket that does not speak the HAL's gRPC: " + what, Err: errHALNotGRPC}
	}
	pctx, cancel := context.WithTimeout(ctx, halProbeTimeout)
	defer cancel()
	c, err := halclient.Dial(pctx, path)
	if err != nil {
		return &halTargetError{Path: path, What: "a socket whose gRPC connection failed (" + err.Error() + ")", Err: errHALNotGRPC}
	}
	defer c.Close()
	if _, err := c.GetAuthenticatorID(pctx); status.Code(err) == codes.Unimplemented {
		return &halTargetError{Path: path, What: "a gRPC server without the fingerprint HAL's service (UNIMPLEMENTED)", Err: errHALNotGRPC}
	}
	return nil
}

// probeHTTP2 sends the HTTP/2 preface to the socket at path and reports
// whether a SETTINGS frame came back; otherwise, what happened instead.
func probeHTTP2(path string) (string, bool) {
	conn, err := net.DialTimeout("unix", path, halProbeTimeout)
	if err != nil {
		return "nobody accepts on it (" + err.Error() + ")", false
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(halProbeTimeout)); err != nil {
		return "it failed (" + err.Error() + ")", false
	}
	if _, err := conn.Write(http2Preface); err != nil {
		return "it closed on an HTTP/2 preface", false
	}
	var hdr [9]byte // RFC 9113 §4.1 frame header
	_, err = io.ReadFull(conn, hdr[:])
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("no answer to an HTTP/2 preface within %v (a CA→TA socket such as Keymaster's?)", halProbeTimeout), false
	case err != nil:
		return "it closed on an HTTP/2 preface (a CA→TA socket such as Keymaster's?)", false
	case hdr[3] != 4 || !bytes.Equal(hdr[5:9], []byte{0, 0, 0, 0}):
		return "its answer to an HTTP/2 preface is not a SETTINGS frame (a CA→TA socket such as Keymaster's?)", false
	}
	return "", true
}
