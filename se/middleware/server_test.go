package middleware

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/se/shieldmsg"
)

// TestServerClient: the /v1/shield client against the real handler: a
// login naming another device than the card certificate's is refused
// (403 device), a login and a confirmation end to end, the user
// declining (nothing signed, the PIN untouched), the server's refusal as *ServerError with
// its code; against a hostile server: answers over the bound and a
// pre-submit for another order are ErrServerAnswer before the card
// signs; bad URLs are refused.
func TestServerClient(t *testing.T) {
	ctx := context.Background()
	w := newShieldWorld(t)
	hs := httptest.NewServer(w.srv.MerchantHandler())
	defer hs.Close()
	srv, err := NewServer(hs.URL, nil)
	require.NoError(t, err)
	m := w.open(t)

	// The device a login names is only a claim: the card certificate's
	// subject (issued for w.device) must match it.
	var other [16]byte
	err = m.LoginToServer(ctx, srv, other, userPIN)
	var se *ServerError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusForbidden, se.Status)
	assert.Equal(t, "device", se.Code)
	_, err = m.ConfirmOrder(ctx, srv, other, w.order(t, 77), userPIN, nil)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "no_card", se.Code, "no card was recorded for the named device")
	require.NoError(t, m.LoginToServer(ctx, srv, w.device, userPIN))

	orderID := w.order(t, 1234)
	_, err = m.ConfirmOrder(ctx, srv, w.device, orderID, userPIN, func(ps shieldmsg.PreSubmit) bool {
		assert.Equal(t, int64(1234), ps.Amount)
		return false
	})
	require.ErrorIs(t, err, ErrDeclined)
	tries, _, err := m.PINStatus()
	require.NoError(t, err)
	assert.Equal(t, 6, tries, "declining spends no PIN try")
	c, err := m.ConfirmOrder(ctx, srv, w.device, orderID, userPIN, nil)
	require.NoError(t, err)
	assert.Equal(t, orderID, c.PreSubmit.OrderID)
	require.NoError(t, w.srv.ShieldConfirmed(ctx, c.ID, orderID, w.device))

	_, err = m.ConfirmOrder(ctx, srv, w.device, "0123456789abcdef0123456789abcdef", userPIN, nil)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusNotFound, se.Status)
	assert.Equal(t, "not_found", se.Code)

	// A hostile server: a pre-submit for another order than asked.
	real := w.srv.MerchantHandler()
	hostile := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/shield/presubmits" {
			var req map[string]string
			_ = json.NewDecoder(r.Body).Decode(&req)
			other := w.order(t, 999999)
			body, _ := json.Marshal(map[string]string{"order": other, "device": req["device"]})
			r2 := httptest.NewRequest(http.MethodPost, "/v1/shield/presubmits", strings.NewReader(string(body)))
			r2.Header.Set("Content-Type", "application/json")
			real.ServeHTTP(rw, r2)
			return
		}
		real.ServeHTTP(rw, r)
	}))
	defer hostile.Close()
	hsrv, err := NewServer(hostile.URL, nil)
	require.NoError(t, err)
	_, err = m.ConfirmOrder(ctx, hsrv, w.device, w.order(t, 5), userPIN, func(shieldmsg.PreSubmit) bool {
		t.Error("a pre-submit for another order was shown")
		return true
	})
	require.ErrorIs(t, err, ErrServerAnswer)

	huge := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.WriteHeader(http.StatusCreated)
		_, _ = rw.Write([]byte(`{"random":"` + strings.Repeat("00", MaxServerResponse) + `"}`))
	}))
	defer huge.Close()
	bsrv, err := NewServer(huge.URL, nil)
	require.NoError(t, err)
	require.ErrorIs(t, m.LoginToServer(ctx, bsrv, w.device, userPIN), ErrServerAnswer)
	badHex := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.WriteHeader(http.StatusCreated)
		_, _ = rw.Write([]byte(`{"random":"zz","signature":"` + hex.EncodeToString([]byte("x")) + `"}`))
	}))
	defer badHex.Close()
	bsrv, err = NewServer(badHex.URL, nil)
	require.NoError(t, err)
	require.ErrorIs(t, m.LoginToServer(ctx, bsrv, w.device, userPIN), ErrServerAnswer)

	for _, bad := range []string{"", "ftp://x", "http://", "http://h:1/path", "::"} {
		_, err := NewServer(bad, nil)
		assert.Error(t, err, bad)
	}
}
