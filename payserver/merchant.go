package payserver

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"slices"
	"strconv"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/store"
)

// The merchant API (docs/protocol.md §14.7): HTTP/JSON on loopback.
//
//	POST /v1/orders        Idempotency-Key header; {"payee","amount","currency","summary"}
//	                       → 201 the order (200 and Idempotent-Replayed: true for a repeat)
//	GET  /v1/orders/{id}   → 200 the order, 404
//	GET  /v1/ledger?after=N&limit=M → 200 {"entries": [...], "next_after": N}
//	PUT  /v1/devices/{id}/tier {"tier"} → 200 {"device","tier","recorded":true}
//	GET  /v1/devices/{id}/tier → 200 {"device","tier","recorded"} (recorded false: the default tier)
//
// Errors are {"error": code, "message": text} with 400 (invalid), 404,
// 405, 409 (idempotency conflict), 413 (body over MaxBodyBytes), 415 (not
// application/json), 503 (storage unavailable).

// OrderJSON is an order as the merchant API shows it.
type OrderJSON struct {
	ID       string `json:"id"`
	Payee    string `json:"payee"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Summary  string `json:"summary"`
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
	EntryID  int64  `json:"entry_id,omitempty"`
	Created  string `json:"created"`
}

// EntryJSON is a ledger row as the merchant API shows it.
type EntryJSON struct {
	EntryID       int64  `json:"entry_id"`
	OrderID       string `json:"order_id"`
	Device        string `json:"device"`
	App           string `json:"app"`
	Scene         string `json:"scene"`
	Counter       uint64 `json:"counter"`
	FingerID      uint32 `json:"finger_id"`
	Amount        int64  `json:"amount"`
	Currency      string `json:"currency"`
	Payee         string `json:"payee"`
	StatementHash string `json:"statement_hash"`
	Booked        string `json:"booked"`
}

// LedgerJSON is a ledger page.
type LedgerJSON struct {
	Entries   []EntryJSON `json:"entries"`
	NextAfter int64       `json:"next_after"`
}

// OrderRequest is the body of POST /v1/orders.
type OrderRequest struct {
	Payee    string `json:"payee"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Summary  string `json:"summary"`
}

const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func orderJSON(o store.Order) OrderJSON {
	return OrderJSON{ID: o.ID, Payee: o.Payee, Amount: o.Amount, Currency: o.Currency, Summary: o.Summary,
		Status: string(o.Status), Attempts: o.Attempts, EntryID: o.EntryID, Created: o.Created.UTC().Format(timeFormat)}
}

// MerchantHandler returns the merchant API.
func (s *Server) MerchantHandler() http.Handler {
	log := s.cfg.Logger.With(zap.String("component", "merchant"))
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, code int, errCode, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": errCode, "message": msg})
	}
	storeFail := func(w http.ResponseWriter, err error) {
		switch {
		case errors.Is(err, store.ErrIdempotencyConflict):
			fail(w, http.StatusConflict, "idempotency_conflict", "Idempotency-Key reused with other parameters")
		case errors.Is(err, store.ErrOrderUnknown):
			fail(w, http.StatusNotFound, "not_found", "no such order")
		case errors.Is(err, store.ErrDeviceUnknown):
			fail(w, http.StatusNotFound, "not_found", "no such device")
		case errors.Is(err, store.ErrDeviceRevoked):
			fail(w, http.StatusConflict, "revoked", "the device is revoked")
		case errors.Is(err, store.ErrInvalid):
			fail(w, http.StatusBadRequest, "invalid", err.Error())
		default:
			log.Error("store", zap.Error(err))
			fail(w, http.StatusServiceUnavailable, "unavailable", "storage unavailable; retry")
		}
	}
	ok := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("POST /v1/orders", func(w http.ResponseWriter, r *http.Request) {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			fail(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
			return
		}
		key := r.Header.Get("Idempotency-Key")
		if key == "" || len(key) > store.MaxIdempotencyKeyLen {
			fail(w, http.StatusBadRequest, "invalid", "Idempotency-Key header of 1..255 bytes is required")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		var req OrderRequest
		if err := dec.Decode(&req); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				fail(w, http.StatusRequestEntityTooLarge, "too_large", "request body over "+strconv.FormatInt(s.cfg.MaxBodyBytes, 10)+" bytes")
				return
			}
			fail(w, http.StatusBadRequest, "invalid", "body is not an order: "+err.Error())
			return
		}
		if dec.More() {
			fail(w, http.StatusBadRequest, "invalid", "trailing data after the order")
			return
		}
		o, created, err := s.cfg.Store.CreateOrder(r.Context(), store.NewOrder{IdempotencyKey: key, Payee: req.Payee,
			Amount: req.Amount, Currency: req.Currency, Summary: req.Summary})
		if err != nil {
			storeFail(w, err)
			return
		}
		if !created {
			w.Header().Set("Idempotent-Replayed", "true")
			ok(w, http.StatusOK, orderJSON(o))
			return
		}
		log.Info("order created", zap.String("order", o.ID), zap.String("payee", o.Payee))
		ok(w, http.StatusCreated, orderJSON(o))
	})
	mux.HandleFunc("GET /v1/orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if b, err := hex.DecodeString(id); err != nil || len(b) != 16 || hex.EncodeToString(b) != id {
			fail(w, http.StatusNotFound, "not_found", "no such order")
			return
		}
		o, err := s.cfg.Store.Order(r.Context(), id)
		if err != nil {
			storeFail(w, err)
			return
		}
		ok(w, http.StatusOK, orderJSON(o))
	})
	mux.HandleFunc("GET /v1/ledger", func(w http.ResponseWriter, r *http.Request) {
		after, limit := int64(0), 100
		q := r.URL.Query()
		if v := q.Get("after"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				fail(w, http.StatusBadRequest, "invalid", "after must be a non-negative integer")
				return
			}
			after = n
		}
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > store.MaxLedgerPage {
				fail(w, http.StatusBadRequest, "invalid", "limit must be 1.."+strconv.Itoa(store.MaxLedgerPage))
				return
			}
			limit = n
		}
		rows, err := s.cfg.Store.Ledger(r.Context(), after, limit)
		if err != nil {
			storeFail(w, err)
			return
		}
		page := LedgerJSON{Entries: []EntryJSON{}, NextAfter: after}
		for _, rc := range rows {
			page.Entries = append(page.Entries, EntryJSON{EntryID: rc.EntryID, OrderID: rc.OrderID, Device: hex.EncodeToString(rc.Key.Device[:]),
				App: rc.Key.App, Scene: rc.Key.Scene, Counter: rc.Counter, FingerID: rc.FingerID, Amount: rc.Amount,
				Currency: rc.Currency, Payee: rc.Payee, StatementHash: hex.EncodeToString(rc.StatementHash[:]), Booked: rc.Booked.UTC().Format(timeFormat)})
			page.NextAfter = rc.EntryID
		}
		ok(w, http.StatusOK, page)
	})
	s.registerShield(mux) // shield.go: seed 002 login and pre-submit confirmation
	s.tierRoutes(mux, fail, storeFail, ok, log)
	return mux
}

// TierJSON is a device's customer tier as the merchant API shows it.
type TierJSON struct {
	Device   string `json:"device"`
	Tier     string `json:"tier"`
	Recorded bool   `json:"recorded"`
}

// tierRoutes serves the customer tier of a device (docs/protocol.md
// §16.4): the tier the server's policy decides payments by.
func (s *Server) tierRoutes(mux *http.ServeMux, fail func(http.ResponseWriter, int, string, string),
	storeFail func(http.ResponseWriter, error), ok func(http.ResponseWriter, int, any), log *zap.Logger) {
	device := func(w http.ResponseWriter, r *http.Request) (proof.DeviceID, bool) {
		var id proof.DeviceID
		v := r.PathValue("id")
		b, err := hex.DecodeString(v)
		if err != nil || len(b) != proof.DeviceIDSize || hex.EncodeToString(b) != v {
			fail(w, http.StatusNotFound, "not_found", "no such device")
			return id, false
		}
		copy(id[:], b)
		return id, true
	}
	mux.HandleFunc("GET /v1/devices/{id}/tier", func(w http.ResponseWriter, r *http.Request) {
		id, good := device(w, r)
		if !good {
			return
		}
		t, err := s.cfg.Store.Tier(r.Context(), id)
		recorded := err == nil
		if errors.Is(err, store.ErrTierUnset) {
			t, err = s.cfg.Factors.DefaultTier, nil
		}
		if err != nil {
			storeFail(w, err)
			return
		}
		ok(w, http.StatusOK, TierJSON{Device: hex.EncodeToString(id[:]), Tier: t, Recorded: recorded})
	})
	mux.HandleFunc("PUT /v1/devices/{id}/tier", func(w http.ResponseWriter, r *http.Request) {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			fail(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
			return
		}
		id, good := device(w, r)
		if !good {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		var req struct {
			Tier string `json:"tier"`
		}
		if err := dec.Decode(&req); err != nil || dec.More() {
			fail(w, http.StatusBadRequest, "invalid", "body is not {\"tier\": NAME}")
			return
		}
		if p := s.cfg.Factors.Policy; p != nil && !slices.Contains(p.Tiers(), req.Tier) {
			fail(w, http.StatusBadRequest, "invalid", "the policy has no tier "+strconv.Quote(req.Tier))
			return
		}
		if err := s.cfg.Store.SetTier(r.Context(), id, req.Tier); err != nil {
			storeFail(w, err)
			return
		}
		log.Info("customer tier set", zap.String("device", hex.EncodeToString(id[:])), zap.String("tier", req.Tier))
		ok(w, http.StatusOK, TierJSON{Device: hex.EncodeToString(id[:]), Tier: req.Tier, Recorded: true})
	})
}
