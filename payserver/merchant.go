package payserver

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/payserver/store"
)

// The merchant API (docs/protocol.md §14.7): HTTP/JSON on loopback.
//
//	POST /v1/orders        Idempotency-Key header; {"payee","amount","currency","summary"}
//	                       → 201 the order (200 and Idempotent-Replayed: true for a repeat)
//	GET  /v1/orders/{id}   → 200 the order, 404
//	GET  /v1/ledger?after=N&limit=M → 200 {"entries": [...], "next_after": N}
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

type orderRequest struct {
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
		var req orderRequest
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
	return mux
}
