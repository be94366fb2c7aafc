package payserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/payserver/verify"
)

func newTestServer(t *testing.T) (*Server, store.Store) {
	dir := t.TempDir()
	c, err := ca.Init(filepath.Join(dir, "ca"), ca.InitOptions{})
	require.NoError(t, err)
	require.NoError(t, c.Close())
	creds, pool, err := IssueCredentials(context.Background(), filepath.Join(dir, "ca"), "pay.fpemu.test")
	require.NoError(t, err)
	st, err := OpenStore(context.Background(), "sqlite:"+filepath.Join(dir, "s.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	s, err := New(Config{Store: st, Roots: verify.NewRoots(proof.PublicKey{4}), MaxBodyBytes: 512,
		Channel: channel.ServerConfig{Credentials: creds, Roots: pool}})
	require.NoError(t, err)
	return s, st
}

func do(t *testing.T, h http.Handler, method, path, ctype, key, body string) (*httptest.ResponseRecorder, map[string]any) {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var v map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &v)
	return w, v
}

const goodOrder = `{"payee":"shop","amount":100,"currency":"CNY","summary":"tea"}`

func TestMerchantOrders(t *testing.T) {
	s, _ := newTestServer(t)
	h := s.MerchantHandler()
	w, o := do(t, h, "POST", "/v1/orders", "application/json", "k1", goodOrder)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	id := o["id"].(string)
	assert.Len(t, id, 32)
	assert.Equal(t, "open", o["status"])

	// Idempotency: the same key and body → the first order, 200, marked.
	w, o2 := do(t, h, "POST", "/v1/orders", "application/json; charset=utf-8", "k1", goodOrder)
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "true", w.Header().Get("Idempotent-Replayed"))
	assert.Equal(t, id, o2["id"])
	// The same key with other parameters → 409, the first order stands.
	w, e := do(t, h, "POST", "/v1/orders", "application/json", "k1", strings.Replace(goodOrder, "100", "999", 1))
	require.Equal(t, http.StatusConflict, w.Code)
	assert.Equal(t, "idempotency_conflict", e["error"])

	w, got := do(t, h, "GET", "/v1/orders/"+id, "", "", "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, float64(100), got["amount"])
	w, _ = do(t, h, "GET", "/v1/orders/"+strings.Repeat("0", 32), "", "", "")
	assert.Equal(t, http.StatusNotFound, w.Code)
	w, _ = do(t, h, "GET", "/v1/orders/..%2f", "", "", "")
	assert.Equal(t, http.StatusNotFound, w.Code)
}

func TestMerchantRefusals(t *testing.T) {
	s, st := newTestServer(t)
	h := s.MerchantHandler()
	for _, tc := range []struct {
		name, method, path, ctype, key, body string
		code                                 int
		errCode                              string
	}{
		{"no key", "POST", "/v1/orders", "application/json", "", goodOrder, 400, "invalid"},
		{"key too long", "POST", "/v1/orders", "application/json", strings.Repeat("k", 256), goodOrder, 400, "invalid"},
		{"not json type", "POST", "/v1/orders", "text/plain", "k", goodOrder, 415, "unsupported_media_type"},
		{"no type", "POST", "/v1/orders", "", "k", goodOrder, 415, "unsupported_media_type"},
		{"unknown field", "POST", "/v1/orders", "application/json", "k", `{"payee":"shop","amount":1,"currency":"CNY","tip":5}`, 400, "invalid"},
		{"not json", "POST", "/v1/orders", "application/json", "k", `{`, 400, "invalid"},
		{"trailing", "POST", "/v1/orders", "application/json", "k", goodOrder + `{}`, 400, "invalid"},
		{"zero amount", "POST", "/v1/orders", "application/json", "k", `{"payee":"shop","amount":0,"currency":"CNY"}`, 400, "invalid"},
		{"negative amount", "POST", "/v1/orders", "application/json", "k", `{"payee":"shop","amount":-5,"currency":"CNY"}`, 400, "invalid"},
		{"bad currency", "POST", "/v1/orders", "application/json", "k", `{"payee":"shop","amount":5,"currency":"yuan"}`, 400, "invalid"},
		{"too large", "POST", "/v1/orders", "application/json", "k", `{"payee":"shop","amount":5,"currency":"CNY","summary":"` + strings.Repeat("x", 600) + `"}`, 413, "too_large"},
		{"ledger bad after", "GET", "/v1/ledger?after=-1", "", "", "", 400, "invalid"},
		{"ledger limit 0", "GET", "/v1/ledger?limit=0", "", "", "", 400, "invalid"},
		{"ledger limit over page", "GET", "/v1/ledger?limit=1001", "", "", "", 400, "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, e := do(t, h, tc.method, tc.path, tc.ctype, tc.key, tc.body)
			assert.Equal(t, tc.code, w.Code, w.Body.String())
			assert.Equal(t, tc.errCode, e["error"])
		})
	}
	w, _ := do(t, h, "DELETE", "/v1/orders", "", "", "")
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	// Nothing was created by any refusal.
	rows, err := st.Ledger(context.Background(), 0, 10)
	require.NoError(t, err)
	assert.Empty(t, rows)
	w, _ = do(t, h, "POST", "/v1/orders", "application/json", "k", goodOrder)
	assert.Equal(t, http.StatusCreated, w.Code, "no refusal created an order under the key")
	w, page := do(t, h, "GET", "/v1/ledger", "", "", "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, []any{}, page["entries"])
}

// TestCreateOrderClient: CreateOrder against the merchant API — a new
// key is 201 (created), the same key and order again 200 (not created,
// the same order), the same key with another order the API's 409
// conflict as an error.
func TestCreateOrderClient(t *testing.T) {
	s, _ := newTestServer(t)
	hs := httptest.NewServer(s.MerchantHandler())
	t.Cleanup(hs.Close)
	addr := strings.TrimPrefix(hs.URL, "http://")
	ctx := context.Background()
	req := OrderRequest{Payee: "shop", Amount: 100, Currency: "CNY", Summary: "tea"}
	o, created, err := CreateOrder(ctx, addr, "k1", req)
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, int64(100), o.Amount)
	again, created, err := CreateOrder(ctx, addr, "k1", req)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, o.ID, again.ID)
	req.Amount = 999
	_, _, err = CreateOrder(ctx, addr, "k1", req)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "409")
}

// TestNewFillsUnsetBounds: New takes a Config bound that is zero or
// negative as unset and uses its default; a set one is kept.
func TestNewFillsUnsetBounds(t *testing.T) {
	s, _ := newTestServer(t)
	assert.Equal(t, int64(512), s.cfg.MaxBodyBytes, "set")
	assert.Equal(t, DefaultMaxConns, s.cfg.MaxConns)
	assert.Equal(t, DefaultHandshakeTimeout, s.cfg.HandshakeTimeout)
	assert.Equal(t, DefaultIdleTimeout, s.cfg.IdleTimeout)
	assert.Equal(t, DefaultPruneEvery, s.cfg.PruneEvery)
	for _, tc := range []struct{ v, want int }{{0, 7}, {-1, 7}, {3, 3}} {
		assert.Equal(t, tc.want, orDefault(tc.v, 7), "%d", tc.v)
	}
}
