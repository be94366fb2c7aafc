package payserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/se/shieldmsg"
)

// The shield flows of seed 002 on the server (docs/protocol.md §14.9,
// §15.6): login (the server signs a random, the card checks it against
// the server certificate pinned on it and signs it back, the server
// checks the card's CA-issued certificate and signature) and transaction
// confirmation (the server signs a pre-submit and a single-use nonce,
// the card checks that, takes the user PIN and signs, the server checks
// and consumes the nonce in one conditional UPDATE). The server's key is
// its channel signing key (Config.Channel.Credentials): the certificate
// a card pins is the server's signing certificate, so a server that
// should keep its pinned cards across restarts runs with --cert.

// Lifetimes of a login random and a pre-submit.
const (
	ShieldLoginTTL     = 2 * time.Minute
	ShieldPreSubmitTTL = 2 * time.Minute
	shieldRandomSize   = 32
	shieldNonceSize    = 16
)

// Errors of the shield flows beyond the store's sentinels.
var (
	// ErrShieldSignature: the card's signature does not verify under its
	// certificate (a login answer or a confirmation over other data).
	ErrShieldSignature = errors.New("payserver: shield signature does not verify")
	// ErrShieldCert: the card certificate does not chain to the CA, is a
	// CA, lacks digitalSignature, is expired or has no SM2 key.
	ErrShieldCert = errors.New("payserver: shield certificate refused")
	// ErrShieldDevice: the card certificate names no device, or another
	// device than the login (or pre-submit) is for. A card's device is
	// the subject its CA certificate was issued with (ca.ShieldDevice),
	// never what a caller names.
	ErrShieldDevice = errors.New("payserver: shield certificate is for another device")
	// ErrShieldUnavailable: the store does not implement store.ShieldStore.
	ErrShieldUnavailable = errors.New("payserver: the store has no shield tables")
)

// LoginChallenge is what the server sends a device that starts a shield
// login.
type LoginChallenge struct {
	Random     []byte // shieldRandomSize random bytes, single use
	Signature  []byte // SM2 over shieldmsg.LoginMessage(Random)
	ServerCert []byte // the server's signing certificate (DER), for the app to show; the card uses its pinned copy
	Expires    time.Time
}

// PreSubmitChallenge is what the server sends for a transaction to be
// confirmed by the shield.
type PreSubmitChallenge struct {
	ID        string
	PreSubmit []byte // shieldmsg.PreSubmit encoding
	Nonce     []byte
	Signature []byte // SM2 over shieldmsg.ServerPreSubmitMessage(PreSubmit, Nonce)
	Expires   time.Time
}

func (s *Server) shieldStore() (store.ShieldStore, error) {
	ss, ok := s.cfg.Store.(store.ShieldStore)
	if !ok {
		return nil, ErrShieldUnavailable
	}
	return ss, nil
}

func (s *Server) shieldSign(msg []byte) ([]byte, error) {
	return s.cfg.Channel.Credentials.Signer.Sign(rand.Reader, msg, sm2.DefaultSM2SignerOpts)
}

// checkCardCert parses a card certificate and checks it against the CA
// roots of device certificates (Config.Channel.Roots): an SM2 end-entity
// certificate with digitalSignature, valid now, issued under the CA's
// shield profile — it carries the certificate policy ca.OIDShieldCard
// (RFC 5280 §4.2.1.4), which the CA sets only for cards. A device
// certificate from the same CA, whose key lives in the phone's TEE and
// not on a card, is refused. It returns the card's key and the device
// the CA issued the card for: the subject CN (ca.ShieldDevice; a card
// certificate that names no device is ErrShieldDevice).
func (s *Server) checkCardCert(der []byte) (*ecdsa.PublicKey, proof.DeviceID, error) {
	var dev proof.DeviceID
	if len(der) == 0 || len(der) > store.MaxShieldCertLen {
		return nil, dev, fmt.Errorf("%w: %d bytes", ErrShieldCert, len(der))
	}
	c, err := smx509.ParseCertificate(der)
	if err != nil {
		return nil, dev, fmt.Errorf("%w: %v", ErrShieldCert, err)
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != sm2.P256() || c.IsCA || c.KeyUsage&smx509.KeyUsageDigitalSignature == 0 {
		return nil, dev, fmt.Errorf("%w: not an SM2 signing end-entity certificate", ErrShieldCert)
	}
	if !ca.HasShieldPolicy(c) {
		return nil, dev, fmt.Errorf("%w: not a shield card certificate (no card policy)", ErrShieldCert)
	}
	if _, err := c.Verify(smx509.VerifyOptions{Roots: s.cfg.Channel.Roots, KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, dev, fmt.Errorf("%w: %v", ErrShieldCert, err)
	}
	cn, err := ca.ShieldDevice(c)
	if err != nil {
		return nil, dev, fmt.Errorf("%w: %v", ErrShieldDevice, err)
	}
	b, _ := hex.DecodeString(cn) // ShieldDevice: 32 lower-case hex digits
	copy(dev[:], b)
	return pub, dev, nil
}

// ShieldLoginBegin is login step 2: a fresh random for device, signed
// with the server's certificate.
func (s *Server) ShieldLoginBegin(ctx context.Context, device proof.DeviceID) (LoginChallenge, error) {
	ss, err := s.shieldStore()
	if err != nil {
		return LoginChallenge{}, err
	}
	r := make([]byte, shieldRandomSize)
	if _, err := rand.Read(r); err != nil {
		return LoginChallenge{}, err
	}
	exp := time.Now().Add(ShieldLoginTTL)
	if err := ss.IssueShieldLogin(ctx, device, r, exp); err != nil {
		return LoginChallenge{}, err
	}
	sig, err := s.shieldSign(shieldmsg.LoginMessage(r))
	if err != nil {
		return LoginChallenge{}, err
	}
	return LoginChallenge{Random: r, Signature: sig, ServerCert: s.cfg.Channel.Credentials.SignCert.Raw, Expires: exp}, nil
}

// ShieldLoginFinish is login step 6: the random is consumed (single use,
// whatever follows), the card certificate must chain to the CA, be
// issued for the device the random was issued to (its subject names the
// device: ErrShieldDevice otherwise — the device a caller names at
// ShieldLoginBegin is only a claim the certificate must match) and the
// card's signature over shieldmsg.CardLoginMessage(random) verify under
// it. The device's card is then this certificate. It returns the device.
func (s *Server) ShieldLoginFinish(ctx context.Context, random, cardCert, cardSig []byte) (proof.DeviceID, error) {
	ss, err := s.shieldStore()
	if err != nil {
		return proof.DeviceID{}, err
	}
	dev, err := ss.ConsumeShieldLogin(ctx, random)
	if err != nil {
		return dev, err
	}
	pub, certDev, err := s.checkCardCert(cardCert)
	if err != nil {
		return dev, err
	}
	if certDev != dev {
		return dev, fmt.Errorf("%w: login for %x by a card issued for %x", ErrShieldDevice, dev[:], certDev[:])
	}
	if !sm2.VerifyASN1WithSM2(pub, nil, shieldmsg.CardLoginMessage(random), cardSig) {
		return dev, ErrShieldSignature
	}
	if err := ss.PutShieldCard(ctx, dev, cardCert); err != nil {
		return dev, err
	}
	s.log.Info("shield login", zap.String("device", hex.EncodeToString(dev[:])))
	return dev, nil
}

// ShieldPreSubmit is transaction step 2: the order's pre-submit for
// device (whose card logged in: store.ErrShieldNoCard otherwise) with a
// fresh single-use nonce, signed by the server.
func (s *Server) ShieldPreSubmit(ctx context.Context, orderID string, device proof.DeviceID) (PreSubmitChallenge, error) {
	ss, err := s.shieldStore()
	if err != nil {
		return PreSubmitChallenge{}, err
	}
	crd, err := ss.ShieldCard(ctx, device)
	if err != nil {
		return PreSubmitChallenge{}, err
	}
	o, err := s.cfg.Store.Order(ctx, orderID)
	if err != nil {
		return PreSubmitChallenge{}, err
	}
	id, nonce := make([]byte, 16), make([]byte, shieldNonceSize)
	if _, err := rand.Read(id); err != nil {
		return PreSubmitChallenge{}, err
	}
	if _, err := rand.Read(nonce); err != nil {
		return PreSubmitChallenge{}, err
	}
	now := time.Now()
	exp := now.Add(ShieldPreSubmitTTL)
	ps := shieldmsg.PreSubmit{ID: hex.EncodeToString(id), OrderID: o.ID, Device: device, Payee: o.Payee, Amount: o.Amount,
		Currency: o.Currency, Expires: exp.UnixMilli()}
	body, err := ps.Marshal()
	if err != nil {
		return PreSubmitChallenge{}, fmt.Errorf("%w: %v", store.ErrInvalid, err)
	}
	if err := ss.CreatePreSubmit(ctx, store.PreSubmit{ID: ps.ID, OrderID: o.ID, Device: device, Body: body, Nonce: nonce,
		CardCert: crd.Cert, Issued: now, Expires: exp}); err != nil {
		return PreSubmitChallenge{}, err
	}
	sig, err := s.shieldSign(shieldmsg.ServerPreSubmitMessage(body, nonce))
	if err != nil {
		return PreSubmitChallenge{}, err
	}
	return PreSubmitChallenge{ID: ps.ID, PreSubmit: body, Nonce: nonce, Signature: sig, Expires: exp}, nil
}

// preSubmit is the shield store and its pre-submit id
// (store.ErrShieldUnknown when there is none, ErrShieldUnavailable
// without a shield store).
func (s *Server) preSubmit(ctx context.Context, id string) (store.ShieldStore, store.PreSubmit, error) {
	ss, err := s.shieldStore()
	if err != nil {
		return nil, store.PreSubmit{}, err
	}
	p, err := ss.PreSubmit(ctx, id)
	return ss, p, err
}

// ShieldConfirm is transaction step 5: the card's signature over
// shieldmsg.CardConfirmMessage(pre-submit, nonce) must verify under the
// card certificate the pre-submit was issued for (ErrShieldSignature),
// which must still name the pre-submit's device (ErrShieldDevice);
// then the nonce is consumed and the pre-submit marked confirmed in one
// conditional UPDATE (store.ErrShieldUsed for the second of two
// confirmations, store.ErrShieldExpired, store.ErrShieldMismatch for a
// nonce that is not the pre-submit's).
func (s *Server) ShieldConfirm(ctx context.Context, id string, nonce, cardSig []byte) error {
	ss, p, err := s.preSubmit(ctx, id)
	if err != nil {
		return err
	}
	pub, certDev, err := s.checkCardCert(p.CardCert)
	if err != nil {
		return err
	}
	if certDev != p.Device {
		return fmt.Errorf("%w: pre-submit for %x, card issued for %x", ErrShieldDevice, p.Device[:], certDev[:])
	}
	if !sm2.VerifyASN1WithSM2(pub, nil, shieldmsg.CardConfirmMessage(p.Body, nonce), cardSig) {
		return ErrShieldSignature
	}
	if _, err := ss.ConfirmPreSubmit(ctx, id, nonce, cardSig); err != nil {
		return err
	}
	s.log.Info("pre-submit confirmed by shield", zap.String("presubmit", id), zap.String("order", p.OrderID))
	return nil
}

// ShieldConfirmed is the typed check the payment path calls for the
// shield factor: nil if pre-submit id was issued for exactly (orderID,
// device) and a card confirmed it; otherwise an error wrapping
// store.ErrShieldUnknown, store.ErrShieldMismatch (another order or
// device), store.ErrShieldNotConfirmed, or ErrShieldUnavailable. It
// consumes nothing: the booking of the order is what happens once.
func (s *Server) ShieldConfirmed(ctx context.Context, id, orderID string, device proof.DeviceID) error {
	_, p, err := s.preSubmit(ctx, id)
	if err != nil {
		return err
	}
	if p.OrderID != orderID || p.Device != device {
		return store.ErrShieldMismatch
	}
	if !p.HasConfirmed {
		return store.ErrShieldNotConfirmed
	}
	return nil
}

// Shield endpoints on the merchant mux (docs/protocol.md §14.9).
// Byte strings are hex in JSON.

type shieldLoginReq struct {
	Device string `json:"device"`
}
type shieldLoginResp struct {
	Random     string `json:"random"`
	Signature  string `json:"signature"`
	ServerCert string `json:"server_cert"`
	Expires    string `json:"expires"`
}
type shieldLoginFinishReq struct {
	Random    string `json:"random"`
	CardCert  string `json:"card_cert"`
	Signature string `json:"signature"`
}
type shieldPreSubmitReq struct {
	Order  string `json:"order"`
	Device string `json:"device"`
}
type shieldPreSubmitResp struct {
	ID        string `json:"id"`
	PreSubmit string `json:"presubmit"`
	Nonce     string `json:"nonce"`
	Signature string `json:"signature"`
	Expires   string `json:"expires"`
}
type shieldConfirmReq struct {
	Nonce     string `json:"nonce"`
	Signature string `json:"signature"`
}

// registerShield adds the shield endpoints to the merchant mux.
func (s *Server) registerShield(mux *http.ServeMux) {
	log := s.cfg.Logger.With(zap.String("component", "shield"))
	reply := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(w http.ResponseWriter, code int, errCode, msg string) {
		reply(w, code, map[string]string{"error": errCode, "message": msg})
	}
	refuse := func(w http.ResponseWriter, err error) {
		for _, m := range []struct {
			err  error
			code int
			name string
		}{
			{store.ErrInvalid, http.StatusBadRequest, "invalid"},
			{store.ErrShieldUnknown, http.StatusNotFound, "unknown"},
			{store.ErrOrderUnknown, http.StatusNotFound, "not_found"},
			{store.ErrShieldNoCard, http.StatusConflict, "no_card"},
			{store.ErrShieldExpired, http.StatusConflict, "expired"},
			{store.ErrShieldUsed, http.StatusConflict, "used"},
			{store.ErrShieldMismatch, http.StatusConflict, "mismatch"},
			{store.ErrShieldLimit, http.StatusTooManyRequests, "too_many"},
			{store.ErrOrderPaid, http.StatusConflict, "order_paid"},
			{ErrShieldSignature, http.StatusForbidden, "signature"},
			{ErrShieldCert, http.StatusForbidden, "certificate"},
			{ErrShieldDevice, http.StatusForbidden, "device"},
		} {
			if errors.Is(err, m.err) {
				fail(w, m.code, m.name, m.name)
				return
			}
		}
		log.Error("shield", zap.Error(err))
		fail(w, http.StatusServiceUnavailable, "unavailable", "unavailable; retry")
	}
	decode := func(w http.ResponseWriter, r *http.Request, v any) bool {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			fail(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
			return false
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil || dec.More() {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				fail(w, http.StatusRequestEntityTooLarge, "too_large", "request body too large")
				return false
			}
			fail(w, http.StatusBadRequest, "invalid", "malformed request body")
			return false
		}
		return true
	}
	hexes := func(w http.ResponseWriter, fields ...*string) ([][]byte, bool) {
		out := make([][]byte, len(fields))
		for i, f := range fields {
			b, err := hex.DecodeString(*f)
			if err != nil || len(b) == 0 {
				fail(w, http.StatusBadRequest, "invalid", "hex fields expected")
				return nil, false
			}
			out[i] = b
		}
		return out, true
	}
	device := func(w http.ResponseWriter, v string) (proof.DeviceID, bool) {
		var d proof.DeviceID
		b, err := hex.DecodeString(v)
		if err != nil || len(b) != len(d) {
			fail(w, http.StatusBadRequest, "invalid", "device is 32 hex digits")
			return d, false
		}
		copy(d[:], b)
		return d, true
	}
	mux.HandleFunc("POST /v1/shield/login", func(w http.ResponseWriter, r *http.Request) {
		var req shieldLoginReq
		if !decode(w, r, &req) {
			return
		}
		d, ok := device(w, req.Device)
		if !ok {
			return
		}
		lc, err := s.ShieldLoginBegin(r.Context(), d)
		if err != nil {
			refuse(w, err)
			return
		}
		reply(w, http.StatusCreated, shieldLoginResp{Random: hex.EncodeToString(lc.Random), Signature: hex.EncodeToString(lc.Signature),
			ServerCert: hex.EncodeToString(lc.ServerCert), Expires: lc.Expires.UTC().Format(timeFormat)})
	})
	mux.HandleFunc("POST /v1/shield/login/finish", func(w http.ResponseWriter, r *http.Request) {
		var req shieldLoginFinishReq
		if !decode(w, r, &req) {
			return
		}
		b, ok := hexes(w, &req.Random, &req.CardCert, &req.Signature)
		if !ok {
			return
		}
		d, err := s.ShieldLoginFinish(r.Context(), b[0], b[1], b[2])
		if err != nil {
			refuse(w, err)
			return
		}
		reply(w, http.StatusOK, map[string]string{"device": hex.EncodeToString(d[:]), "status": "logged_in"})
	})
	mux.HandleFunc("POST /v1/shield/presubmits", func(w http.ResponseWriter, r *http.Request) {
		var req shieldPreSubmitReq
		if !decode(w, r, &req) {
			return
		}
		d, ok := device(w, req.Device)
		if !ok {
			return
		}
		pc, err := s.ShieldPreSubmit(r.Context(), req.Order, d)
		if err != nil {
			refuse(w, err)
			return
		}
		reply(w, http.StatusCreated, shieldPreSubmitResp{ID: pc.ID, PreSubmit: hex.EncodeToString(pc.PreSubmit), Nonce: hex.EncodeToString(pc.Nonce),
			Signature: hex.EncodeToString(pc.Signature), Expires: pc.Expires.UTC().Format(timeFormat)})
	})
	mux.HandleFunc("POST /v1/shield/presubmits/{id}/confirm", func(w http.ResponseWriter, r *http.Request) {
		var req shieldConfirmReq
		if !decode(w, r, &req) {
			return
		}
		b, ok := hexes(w, &req.Nonce, &req.Signature)
		if !ok {
			return
		}
		if err := s.ShieldConfirm(r.Context(), r.PathValue("id"), b[0], b[1]); err != nil {
			refuse(w, err)
			return
		}
		reply(w, http.StatusOK, map[string]string{"id": r.PathValue("id"), "status": "confirmed"})
	})
}

// ownShield is the shield factor's default confirmer (Factors.Shield): a
// payment's shield reference names a pre-submit of this server's
// /v1/shield flow, confirmed by a card for exactly this order and device
// (ShieldConfirmed).
type ownShield struct{ s *Server }

func (o ownShield) Confirmed(ctx context.Context, device proof.DeviceID, order store.Order, ref []byte) error {
	return o.s.ShieldConfirmed(ctx, string(ref), order.ID, device)
}
