package sqldb

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/store"
)

// Migration 4: the shield tables (docs/protocol.md §12, §15.6). It is
// added here, self-contained, and the list kept in version order.
func init() {
	addMigration(migration{
		version: 4,
		name:    "shield logins, cards and pre-submits",
		stmts: []string{
			`CREATE TABLE shield_logins (
	random     {{blob}} PRIMARY KEY,
	device_id  {{blob}} NOT NULL,
	issued_ms  BIGINT NOT NULL,
	expires_ms BIGINT NOT NULL,
	used_ms    BIGINT
)`,
			`CREATE INDEX shield_logins_device ON shield_logins (device_id, expires_ms)`,
			`CREATE TABLE shield_cards (
	device_id   {{blob}} PRIMARY KEY,
	cert        {{blob}} NOT NULL,
	logged_in_ms BIGINT NOT NULL
)`,
			`CREATE TABLE shield_presubmits (
	id           TEXT PRIMARY KEY,
	order_id     TEXT NOT NULL REFERENCES orders(order_id),
	device_id    {{blob}} NOT NULL,
	body         {{blob}} NOT NULL,
	nonce        {{blob}} NOT NULL UNIQUE,
	card_cert    {{blob}} NOT NULL,
	issued_ms    BIGINT NOT NULL,
	expires_ms   BIGINT NOT NULL,
	confirmed_ms BIGINT,
	card_sig     {{blob}}
)`,
			`CREATE INDEX shield_presubmits_order ON shield_presubmits (order_id)`,
		},
	})
}

var _ store.ShieldStore = (*Engine)(nil)

func shieldBlob(what string, b []byte, lo, hi int) error {
	if len(b) < lo || len(b) > hi {
		return invalidf("%s of %d bytes, want %d..%d", what, len(b), lo, hi)
	}
	return nil
}

// IssueShieldLogin implements store.ShieldStore.
func (e *Engine) IssueShieldLogin(ctx context.Context, device proof.DeviceID, random []byte, expires time.Time) error {
	if err := shieldBlob("login random", random, 16, 64); err != nil {
		return err
	}
	now := ms(e.o.Now())
	return e.tx(ctx, func(q Q) error {
		if _, err := q.Exec(ctx, `DELETE FROM shield_logins WHERE device_id = $1 AND expires_ms <= $2`, device[:], now); err != nil {
			return err
		}
		var n int64
		if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM shield_logins WHERE device_id = $1 AND used_ms IS NULL`, device[:]).Scan(&n); err != nil {
			return err
		}
		if n >= store.MaxShieldLoginsPerDevice {
			return store.ErrShieldLimit
		}
		_, err := q.Exec(ctx, `INSERT INTO shield_logins (random, device_id, issued_ms, expires_ms) VALUES ($1, $2, $3, $4)`,
			random, device[:], now, ms(expires))
		return err
	})
}

// ConsumeShieldLogin implements store.ShieldStore.
func (e *Engine) ConsumeShieldLogin(ctx context.Context, random []byte) (proof.DeviceID, error) {
	var dev proof.DeviceID
	if err := shieldBlob("login random", random, 16, 64); err != nil {
		return dev, err
	}
	now := ms(e.o.Now())
	err := e.tx(ctx, func(q Q) error {
		n, err := q.Exec(ctx, `UPDATE shield_logins SET used_ms = $1 WHERE random = $2 AND used_ms IS NULL AND expires_ms > $1`, now, random)
		if err != nil {
			return err
		}
		var d []byte
		var used *int64
		err = q.QueryRow(ctx, `SELECT device_id, used_ms FROM shield_logins WHERE random = $1`, random).Scan(&d, &used)
		switch {
		case errors.Is(err, ErrNoRows):
			return store.ErrShieldUnknown
		case err != nil:
			return err
		}
		copy(dev[:], d)
		switch {
		case n == 1:
			return nil
		case used != nil:
			return store.ErrShieldUsed
		}
		return store.ErrShieldExpired
	})
	return dev, err
}

// PutShieldCard implements store.ShieldStore.
func (e *Engine) PutShieldCard(ctx context.Context, device proof.DeviceID, cert []byte) error {
	if err := shieldBlob("card certificate", cert, 1, store.MaxShieldCertLen); err != nil {
		return err
	}
	now := ms(e.o.Now())
	return e.tx(ctx, func(q Q) error {
		n, err := q.Exec(ctx, `UPDATE shield_cards SET cert = $2, logged_in_ms = $3 WHERE device_id = $1`, device[:], cert, now)
		if err != nil || n == 1 {
			return err
		}
		_, err = q.Exec(ctx, `INSERT INTO shield_cards (device_id, cert, logged_in_ms) VALUES ($1, $2, $3)`, device[:], cert, now)
		return err
	})
}

// ShieldCard implements store.ShieldStore.
func (e *Engine) ShieldCard(ctx context.Context, device proof.DeviceID) (store.ShieldCard, error) {
	c := store.ShieldCard{Device: device}
	err := e.tx(ctx, func(q Q) error {
		var at int64
		err := q.QueryRow(ctx, `SELECT cert, logged_in_ms FROM shield_cards WHERE device_id = $1`, device[:]).Scan(&c.Cert, &at)
		if errors.Is(err, ErrNoRows) {
			return store.ErrShieldNoCard
		}
		c.LoggedIn = fromMS(at)
		return err
	})
	return c, err
}

// CreatePreSubmit implements store.ShieldStore.
func (e *Engine) CreatePreSubmit(ctx context.Context, p store.PreSubmit) error {
	switch {
	case len(p.ID) != 32 || len(p.OrderID) != 32:
		return invalidf("pre-submit and order ids are 32 hex digits")
	case !p.Expires.After(p.Issued):
		return invalidf("pre-submit expires before it is issued")
	}
	for _, c := range []struct {
		what   string
		b      []byte
		lo, hi int
	}{{"pre-submit", p.Body, 1, store.MaxShieldBlob}, {"nonce", p.Nonce, 16, 32}, {"card certificate", p.CardCert, 1, store.MaxShieldCertLen}} {
		if err := shieldBlob(c.what, c.b, c.lo, c.hi); err != nil {
			return err
		}
	}
	return e.tx(ctx, func(q Q) error {
		var status string
		err := q.QueryRow(ctx, `SELECT status FROM orders WHERE order_id = $1`, p.OrderID).Scan(&status)
		switch {
		case errors.Is(err, ErrNoRows):
			return store.ErrOrderUnknown
		case err != nil:
			return err
		case status != string(store.OrderOpen):
			return store.ErrOrderPaid
		}
		var n int64
		if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM shield_presubmits WHERE order_id = $1`, p.OrderID).Scan(&n); err != nil {
			return err
		}
		if n >= store.MaxPreSubmitsPerOrder {
			return store.ErrShieldLimit
		}
		_, err = q.Exec(ctx, `INSERT INTO shield_presubmits (id, order_id, device_id, body, nonce, card_cert, issued_ms, expires_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, p.ID, p.OrderID, p.Device[:], p.Body, p.Nonce, p.CardCert, ms(p.Issued), ms(p.Expires))
		return err
	})
}

func loadPreSubmit(ctx context.Context, q Q, id string) (store.PreSubmit, error) {
	p := store.PreSubmit{ID: id}
	var dev []byte
	var issued, expires int64
	var confirmed *int64
	err := q.QueryRow(ctx, `SELECT order_id, device_id, body, nonce, card_cert, issued_ms, expires_ms, confirmed_ms, card_sig
FROM shield_presubmits WHERE id = $1`, id).Scan(&p.OrderID, &dev, &p.Body, &p.Nonce, &p.CardCert, &issued, &expires, &confirmed, &p.CardSig)
	if errors.Is(err, ErrNoRows) {
		return p, store.ErrShieldUnknown
	}
	if err != nil {
		return p, err
	}
	copy(p.Device[:], dev)
	p.Issued, p.Expires = fromMS(issued), fromMS(expires)
	if confirmed != nil {
		p.Confirmed, p.HasConfirmed = fromMS(*confirmed), true
	}
	return p, nil
}

// PreSubmit implements store.ShieldStore.
func (e *Engine) PreSubmit(ctx context.Context, id string) (store.PreSubmit, error) {
	var p store.PreSubmit
	err := e.tx(ctx, func(q Q) (err error) { p, err = loadPreSubmit(ctx, q, id); return err })
	return p, err
}

// ConfirmPreSubmit implements store.ShieldStore: one conditional UPDATE
// is the compare-and-swap that consumes the nonce.
func (e *Engine) ConfirmPreSubmit(ctx context.Context, id string, nonce, cardSig []byte) (store.PreSubmit, error) {
	var p store.PreSubmit
	if err := shieldBlob("card signature", cardSig, 8, 72); err != nil {
		return p, err
	}
	now := ms(e.o.Now())
	err := e.tx(ctx, func(q Q) error {
		n, err := q.Exec(ctx, `UPDATE shield_presubmits SET confirmed_ms = $1, card_sig = $2
WHERE id = $3 AND nonce = $4 AND confirmed_ms IS NULL AND expires_ms > $1`, now, cardSig, id, nonce)
		if err != nil {
			return err
		}
		p, err = loadPreSubmit(ctx, q, id)
		switch {
		case err != nil:
			return err
		case n == 1:
			return nil
		case !bytes.Equal(p.Nonce, nonce):
			return store.ErrShieldMismatch
		case p.HasConfirmed:
			return store.ErrShieldUsed
		}
		return store.ErrShieldExpired
	})
	if err != nil {
		return store.PreSubmit{}, err
	}
	return p, nil
}
