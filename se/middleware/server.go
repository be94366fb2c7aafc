package middleware

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/se/shieldmsg"
)

// The payment server's side of seed 002's flows, as the middleware
// reaches it: the /v1/shield endpoints of docs/protocol.md §14.9 over
// HTTP/JSON (byte strings in hex). ServerLogin and Confirm below run a
// whole flow: server → card → server.

// MaxServerResponse bounds what the middleware reads of one answer of
// the server (a pre-submit and a certificate are a few KiB).
const MaxServerResponse = 64 << 10

// ServerError is the server's refusal: the HTTP status and the error
// code of its JSON body ("signature", "certificate", "used", …).
type ServerError struct {
	Op     string
	Status int
	Code   string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("middleware: server %s: %d %s", e.Op, e.Status, e.Code)
}

// ErrServerAnswer: the server's answer is not what §14.9 says (bad JSON,
// bad hex, too large).
var ErrServerAnswer = errors.New("middleware: malformed answer from the server")

// Server is a client of the payment server's shield endpoints.
type Server struct {
	base *url.URL
	hc   *http.Client
}

// NewServer returns a client of the server whose merchant API is at
// base (http://HOST:PORT). hc nil is a client with a 30 s timeout.
func NewServer(base string, hc *http.Client) (*Server, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("middleware: server URL %q: want http(s)://HOST:PORT", base)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Server{base: u, hc: hc}, nil
}

func (s *Server) post(ctx context.Context, op, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base.JoinPath(path).String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.hc.Do(req)
	if err != nil {
		return fmt.Errorf("middleware: server %s: %w", op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxServerResponse+1))
	if err != nil {
		return fmt.Errorf("middleware: server %s: %w", op, err)
	}
	if len(b) > MaxServerResponse {
		return fmt.Errorf("%w: %s: over %d bytes", ErrServerAnswer, op, MaxServerResponse)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		return &ServerError{Op: op, Status: resp.StatusCode, Code: e.Error}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrServerAnswer, op, err)
	}
	return nil
}

func unhex(op string, fields ...string) ([][]byte, error) {
	out := make([][]byte, len(fields))
	for i, f := range fields {
		b, err := hex.DecodeString(f)
		if err != nil || len(b) == 0 {
			return nil, fmt.Errorf("%w: %s: field %d is not hex", ErrServerAnswer, op, i)
		}
		out[i] = b
	}
	return out, nil
}

// LoginToServer is seed 002's login end to end: the server signs
// a fresh random (POST /v1/shield/login), the card checks that
// signature under its pinned server certificate and signs the random
// (after VERIFY of pin), and the server checks the card's certificate
// and signature (POST /v1/shield/login/finish). A server that is not
// the pinned one gets ErrServerSignature and nothing signed.
func (c *Card) LoginToServer(ctx context.Context, srv *Server, device proof.DeviceID, pin string) error {
	var lr struct {
		Random     string `json:"random"`
		Signature  string `json:"signature"`
		ServerCert string `json:"server_cert"`
		Expires    string `json:"expires"`
	}
	if err := srv.post(ctx, "login", "/v1/shield/login", map[string]string{"device": hex.EncodeToString(device[:])}, &lr); err != nil {
		return err
	}
	b, err := unhex("login", lr.Random, lr.Signature)
	if err != nil {
		return err
	}
	if err := c.Login(pin); err != nil {
		return err
	}
	sig, err := c.ServerLogin(b[0], b[1])
	if err != nil {
		return err
	}
	cert, err := c.Certificate()
	if err != nil {
		return err
	}
	var fin struct {
		Device string `json:"device"`
		Status string `json:"status"`
	}
	if err := srv.post(ctx, "login finish", "/v1/shield/login/finish", map[string]string{"random": lr.Random,
		"card_cert": hex.EncodeToString(cert), "signature": hex.EncodeToString(sig)}, &fin); err != nil {
		return err
	}
	if fin.Device != hex.EncodeToString(device[:]) || fin.Status != "logged_in" {
		return fmt.Errorf("%w: login finish for device %q, status %q", ErrServerAnswer, fin.Device, fin.Status)
	}
	return nil
}

// Confirmation is a pre-submit the card confirmed and the server
// accepted.
type Confirmation struct {
	ID        string
	PreSubmit shieldmsg.PreSubmit
}

// ConfirmOrder is seed 002's transaction flow end to end: the server
// issues the order's pre-submit with a single-use nonce, signed (POST
// /v1/shield/presubmits); show is called with what the card is about to
// confirm (the app displays payee and amount; false stops before any
// PIN is used); the card checks the server's signature, takes pin and
// signs; the server checks the signature and consumes the nonce (POST
// /v1/shield/presubmits/{id}/confirm). The pre-submit must be for
// orderID and device, or nothing is signed.
func (c *Card) ConfirmOrder(ctx context.Context, srv *Server, device proof.DeviceID, orderID, pin string,
	show func(shieldmsg.PreSubmit) bool) (Confirmation, error) {
	var pr struct {
		ID        string `json:"id"`
		PreSubmit string `json:"presubmit"`
		Nonce     string `json:"nonce"`
		Signature string `json:"signature"`
		Expires   string `json:"expires"`
	}
	if err := srv.post(ctx, "pre-submit", "/v1/shield/presubmits", map[string]string{"order": orderID,
		"device": hex.EncodeToString(device[:])}, &pr); err != nil {
		return Confirmation{}, err
	}
	b, err := unhex("pre-submit", pr.PreSubmit, pr.Nonce, pr.Signature)
	if err != nil {
		return Confirmation{}, err
	}
	ps, err := shieldmsg.ParsePreSubmit(b[0])
	if err != nil {
		return Confirmation{}, fmt.Errorf("%w: pre-submit: %v", ErrServerAnswer, err)
	}
	if ps.OrderID != orderID || ps.Device != device || ps.ID != pr.ID || strings.ContainsAny(pr.ID, "/?#") {
		return Confirmation{}, fmt.Errorf("%w: pre-submit for another order, device or id", ErrServerAnswer)
	}
	if show != nil && !show(ps) {
		return Confirmation{}, ErrDeclined
	}
	sig, err := c.ConfirmPreSubmit(pin, b[0], b[1], b[2])
	if err != nil {
		return Confirmation{}, err
	}
	var cr struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := srv.post(ctx, "confirm", "/v1/shield/presubmits/"+url.PathEscape(pr.ID)+"/confirm",
		map[string]string{"nonce": pr.Nonce, "signature": hex.EncodeToString(sig)}, &cr); err != nil {
		return Confirmation{}, err
	}
	if cr.ID != pr.ID || cr.Status != "confirmed" {
		return Confirmation{}, fmt.Errorf("%w: confirm answered %q %q", ErrServerAnswer, cr.ID, cr.Status)
	}
	return Confirmation{ID: pr.ID, PreSubmit: ps}, nil
}

// ErrDeclined: the user declined the pre-submit shown to them.
var ErrDeclined = errors.New("middleware: the user declined the transaction")
