package sqldb

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/policy"
	"github.com/fpemu/fpemu/payserver/store"
)

// maxTxRuns bounds how often one operation runs its transaction again
// after a transient conflict (a unique violation from a concurrent
// insert, a serialization failure, a deadlock or SQLITE_BUSY).
const maxTxRuns = 8

// errRetry asks tx to run the transaction again.
var errRetry = errors.New("sqldb: retry transaction")

// Engine is store.Store over a DB and its Dialect.
type Engine struct {
	db     DB
	d      Dialect
	o      store.Options
	log    *zap.Logger
	closed atomic.Bool
}

var _ store.Store = (*Engine)(nil)

// New validates opts, migrates db and returns the store. On error db is
// left open for the caller to close.
func New(ctx context.Context, db DB, d Dialect, opts store.Options) (*Engine, error) {
	o, err := opts.WithDefaults()
	if err != nil {
		return nil, err
	}
	e := &Engine{db: db, d: d, o: o, log: o.Logger.With(zap.String("component", "store"), zap.String("backend", d.Name))}
	if err := e.migrate(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// Close closes the database; later calls return store.ErrClosed.
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	return e.db.Close()
}

// tx runs f in a transaction, again after a transient conflict, at most
// maxTxRuns times.
func (e *Engine) tx(ctx context.Context, f func(Q) error) error {
	if e.closed.Load() {
		return store.ErrClosed
	}
	var err error
	for run := range maxTxRuns {
		err = e.db.Tx(ctx, f)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errRetry) && !e.d.Unique(err) && !e.d.Retryable(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A short, growing pause lets the winner commit.
		time.Sleep(time.Duration(run+1) * time.Millisecond)
	}
	return fmt.Errorf("store: transaction still conflicting after %d runs: %w", maxTxRuns, err)
}

func ms(t time.Time) int64     { return t.UnixMilli() }
func fromMS(v int64) time.Time { return time.UnixMilli(v) }
func i64(u uint64) int64       { return int64(u) } // bit-cast, see migrations
func u64(i int64) uint64       { return uint64(i) }
func invalidf(f string, a ...any) error {
	return fmt.Errorf("%w: "+f, append([]any{store.ErrInvalid}, a...)...)
}

func checkCert(what string, b []byte) error {
	if len(b) == 0 || len(b) > store.MaxCertLen {
		return invalidf("%s of %d bytes, want 1..%d", what, len(b), store.MaxCertLen)
	}
	return nil
}

// RegisterDevice implements store.Store.
func (e *Engine) RegisterDevice(ctx context.Context, d store.Device) error {
	if proof.DeviceIDOf(d.PublicKey) != d.ID {
		return invalidf("device id %x is not derived from its public key", d.ID[:])
	}
	if d.PublicKey[0] != 0x04 {
		return invalidf("device public key is not an uncompressed point")
	}
	if err := checkCert("device certificate", d.Cert); err != nil {
		return err
	}
	return e.tx(ctx, func(q Q) error {
		var pub []byte
		var revoked *int64
		err := q.QueryRow(ctx, `SELECT public_key, revoked_ms FROM devices WHERE device_id = $1`, d.ID[:]).Scan(&pub, &revoked)
		switch {
		case errors.Is(err, ErrNoRows):
			_, err = q.Exec(ctx, `INSERT INTO devices (device_id, public_key, cert, created_ms) VALUES ($1, $2, $3, $4)`,
				d.ID[:], d.PublicKey[:], d.Cert, ms(e.o.Now()))
			return err
		case err != nil:
			return err
		case !bytes.Equal(pub, d.PublicKey[:]):
			return fmt.Errorf("%w: %x", store.ErrDeviceConflict, d.ID[:])
		case revoked != nil:
			return fmt.Errorf("%w: %x", store.ErrDeviceRevoked, d.ID[:])
		}
		return nil
	})
}

// RevokeDevice implements store.Store.
func (e *Engine) RevokeDevice(ctx context.Context, id proof.DeviceID) error {
	return e.tx(ctx, func(q Q) error {
		n, err := q.Exec(ctx, `UPDATE devices SET revoked_ms = COALESCE(revoked_ms, $1) WHERE device_id = $2`, ms(e.o.Now()), id[:])
		if err == nil && n == 0 {
			err = fmt.Errorf("%w: %x", store.ErrDeviceUnknown, id[:])
		}
		return err
	})
}

// Device implements store.Store.
func (e *Engine) Device(ctx context.Context, id proof.DeviceID) (store.Device, error) {
	var d store.Device
	err := e.tx(ctx, func(q Q) error {
		var pub, cert []byte
		var created int64
		var revoked *int64
		err := q.QueryRow(ctx, `SELECT public_key, cert, created_ms, revoked_ms FROM devices WHERE device_id = $1`, id[:]).
			Scan(&pub, &cert, &created, &revoked)
		if errors.Is(err, ErrNoRows) {
			return fmt.Errorf("%w: %x", store.ErrDeviceUnknown, id[:])
		}
		if err != nil {
			return err
		}
		d = store.Device{ID: id, Cert: cert, Created: fromMS(created), Revoked: revoked != nil}
		copy(d.PublicKey[:], pub)
		return nil
	})
	return d, err
}

// deviceUsable refuses an unknown or revoked device.
func deviceUsable(ctx context.Context, q Q, id proof.DeviceID) error {
	var revoked *int64
	err := q.QueryRow(ctx, `SELECT revoked_ms FROM devices WHERE device_id = $1`, id[:]).Scan(&revoked)
	switch {
	case errors.Is(err, ErrNoRows):
		return fmt.Errorf("%w: %x", store.ErrDeviceUnknown, id[:])
	case err != nil:
		return err
	case revoked != nil:
		return fmt.Errorf("%w: %x", store.ErrDeviceRevoked, id[:])
	}
	return nil
}

func checkRef(r store.KeyRef) error {
	if len(r.App) == 0 || len(r.App) > proof.MaxAppIDLen || len(r.Scene) == 0 || len(r.Scene) > proof.MaxSceneLen {
		return invalidf("key %s: app id 1..%d and scene 1..%d bytes", r, proof.MaxAppIDLen, proof.MaxSceneLen)
	}
	return nil
}

func encodeFingers(ids []uint32) []byte {
	b := make([]byte, 0, 4*len(ids))
	for _, f := range ids {
		b = binary.BigEndian.AppendUint32(b, f)
	}
	return b
}

func decodeFingers(b []byte) ([]uint32, error) {
	if len(b)%4 != 0 || len(b) > 4*store.MaxFingers {
		return nil, fmt.Errorf("store: stored finger list of %d bytes", len(b))
	}
	ids := make([]uint32, len(b)/4)
	for i := range ids {
		ids[i] = binary.BigEndian.Uint32(b[4*i:])
	}
	return ids, nil
}

// RegisterKey implements store.Store.
func (e *Engine) RegisterKey(ctx context.Context, k store.Key) error {
	if err := checkRef(k.Ref); err != nil {
		return err
	}
	if k.PublicKey[0] != 0x04 {
		return invalidf("scene public key is not an uncompressed point")
	}
	if len(k.FingerIDs) == 0 || len(k.FingerIDs) > store.MaxFingers {
		return invalidf("%d fingers, want 1..%d", len(k.FingerIDs), store.MaxFingers)
	}
	for i := 1; i < len(k.FingerIDs); i++ {
		if k.FingerIDs[i] <= k.FingerIDs[i-1] {
			return invalidf("finger ids not strictly increasing")
		}
	}
	// The binding the scene certificate carries must commit to exactly
	// this finger list (proof.FingerBinding), or a finger check at Book
	// would check a list the device never bound.
	if proof.FingerBinding(k.GroupID, k.AuthenticatorID, k.FingerIDs) != k.FingerBinding {
		return invalidf("finger list does not hash to the key's finger binding")
	}
	if err := checkCert("app certificate", k.AppCert); err != nil {
		return err
	}
	if err := checkCert("scene certificate", k.SceneCert); err != nil {
		return err
	}
	return e.tx(ctx, func(q Q) error {
		if err := deviceUsable(ctx, q, k.Ref.Device); err != nil {
			return err
		}
		var serial, counter int64
		var revoked *int64
		err := q.QueryRow(ctx, `SELECT serial, counter, revoked_ms FROM scene_keys WHERE device_id = $1 AND app_id = $2 AND scene = $3`,
			k.Ref.Device[:], k.Ref.App, k.Ref.Scene).Scan(&serial, &counter, &revoked)
		now := ms(e.o.Now())
		switch {
		case errors.Is(err, ErrNoRows):
			_, err = q.Exec(ctx, `INSERT INTO scene_keys (device_id, app_id, scene, public_key, serial, group_id,
	authenticator_id, finger_binding, finger_ids, app_cert, scene_cert, counter, created_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
				k.Ref.Device[:], k.Ref.App, k.Ref.Scene, k.PublicKey[:], i64(k.Serial), int64(k.GroupID),
				i64(k.AuthenticatorID), k.FingerBinding[:], encodeFingers(k.FingerIDs), k.AppCert, k.SceneCert, i64(k.Serial), now)
			return err
		case err != nil:
			return err
		case revoked != nil:
			return fmt.Errorf("%w: %s", store.ErrKeyRevoked, k.Ref)
		case k.Serial <= u64(serial):
			return fmt.Errorf("%w: serial %d, registered %d", store.ErrKeyStale, k.Serial, u64(serial))
		}
		// A replacement keeps the high-water mark: the device's counter
		// only grows, so no statement of the old key can book again.
		next := max(u64(counter), k.Serial)
		n, err := q.Exec(ctx, `UPDATE scene_keys SET public_key = $4, serial = $5, group_id = $6, authenticator_id = $7,
	finger_binding = $8, finger_ids = $9, app_cert = $10, scene_cert = $11, counter = $12, created_ms = $13
WHERE device_id = $1 AND app_id = $2 AND scene = $3 AND serial = $14 AND revoked_ms IS NULL`,
			k.Ref.Device[:], k.Ref.App, k.Ref.Scene, k.PublicKey[:], i64(k.Serial), int64(k.GroupID),
			i64(k.AuthenticatorID), k.FingerBinding[:], encodeFingers(k.FingerIDs), k.AppCert, k.SceneCert, i64(next), now, serial)
		if err == nil && n == 0 {
			return errRetry // changed under us: decide again on the new row
		}
		return err
	})
}

// RevokeKey implements store.Store.
func (e *Engine) RevokeKey(ctx context.Context, ref store.KeyRef) error {
	if err := checkRef(ref); err != nil {
		return err
	}
	return e.tx(ctx, func(q Q) error {
		n, err := q.Exec(ctx, `UPDATE scene_keys SET revoked_ms = COALESCE(revoked_ms, $1) WHERE device_id = $2 AND app_id = $3 AND scene = $4`,
			ms(e.o.Now()), ref.Device[:], ref.App, ref.Scene)
		if err == nil && n == 0 {
			err = fmt.Errorf("%w: %s", store.ErrKeyUnknown, ref)
		}
		return err
	})
}

// Key implements store.Store.
func (e *Engine) Key(ctx context.Context, ref store.KeyRef) (store.Key, error) {
	if err := checkRef(ref); err != nil {
		return store.Key{}, err
	}
	var k store.Key
	err := e.tx(ctx, func(q Q) error {
		var pub, binding, fingers, appCert, sceneCert []byte
		var serial, gid, authID, counter, created int64
		var revoked *int64
		err := q.QueryRow(ctx, `SELECT public_key, serial, group_id, authenticator_id, finger_binding, finger_ids,
	app_cert, scene_cert, counter, created_ms, revoked_ms
FROM scene_keys WHERE device_id = $1 AND app_id = $2 AND scene = $3`, ref.Device[:], ref.App, ref.Scene).
			Scan(&pub, &serial, &gid, &authID, &binding, &fingers, &appCert, &sceneCert, &counter, &created, &revoked)
		if errors.Is(err, ErrNoRows) {
			return fmt.Errorf("%w: %s", store.ErrKeyUnknown, ref)
		}
		if err != nil {
			return err
		}
		ids, err := decodeFingers(fingers)
		if err != nil {
			return err
		}
		k = store.Key{Ref: ref, Serial: u64(serial), GroupID: uint32(gid), AuthenticatorID: u64(authID),
			FingerIDs: ids, AppCert: appCert, SceneCert: sceneCert, Counter: u64(counter),
			Created: fromMS(created), Revoked: revoked != nil}
		copy(k.PublicKey[:], pub)
		copy(k.FingerBinding[:], binding)
		return nil
	})
	return k, err
}

func checkNewOrder(o store.NewOrder) error {
	switch {
	case len(o.IdempotencyKey) == 0 || len(o.IdempotencyKey) > store.MaxIdempotencyKeyLen:
		return invalidf("idempotency key of %d bytes, want 1..%d", len(o.IdempotencyKey), store.MaxIdempotencyKeyLen)
	case len(o.Payee) == 0 || len(o.Payee) > store.MaxPayeeLen:
		return invalidf("payee of %d bytes, want 1..%d", len(o.Payee), store.MaxPayeeLen)
	case o.Amount <= 0:
		return invalidf("amount %d, want > 0 (minor units)", o.Amount)
	case !isCurrency(o.Currency):
		return invalidf("currency %q is not an ISO 4217 alphabetic code", o.Currency)
	case len(o.Summary) > store.MaxSummaryLen:
		return invalidf("summary of %d bytes, max %d", len(o.Summary), store.MaxSummaryLen)
	}
	return nil
}

func isCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := range 3 {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

const orderCols = `order_id, payee, idem_key, amount, currency, summary, status, attempts, entry_id, created_ms`

func scanOrder(r Row) (store.Order, error) {
	var o store.Order
	var status string
	var attempts, created int64
	var entry *int64
	if err := r.Scan(&o.ID, &o.Payee, &o.IdempotencyKey, &o.Amount, &o.Currency, &o.Summary, &status, &attempts, &entry, &created); err != nil {
		return store.Order{}, err
	}
	o.Status, o.Attempts, o.Created = store.OrderStatus(status), int(attempts), fromMS(created)
	if entry != nil {
		o.EntryID = *entry
	}
	return o, nil
}

// CreateOrder implements store.Store.
func (e *Engine) CreateOrder(ctx context.Context, n store.NewOrder) (store.Order, bool, error) {
	if err := checkNewOrder(n); err != nil {
		return store.Order{}, false, err
	}
	var ord store.Order
	var created bool
	err := e.tx(ctx, func(q Q) error {
		o, err := scanOrder(q.QueryRow(ctx, `SELECT `+orderCols+` FROM orders WHERE payee = $1 AND idem_key = $2`, n.Payee, n.IdempotencyKey))
		switch {
		case err == nil:
			if o.NewOrder != n {
				return fmt.Errorf("%w: key %q of payee %q names order %s", store.ErrIdempotencyConflict, n.IdempotencyKey, n.Payee, o.ID)
			}
			ord, created = o, false
			return nil
		case !errors.Is(err, ErrNoRows):
			return err
		}
		var id [16]byte
		if _, err := rand.Read(id[:]); err != nil {
			return fmt.Errorf("store: order id: %w", err)
		}
		now := e.o.Now()
		// Millisecond precision is what the database keeps.
		ord = store.Order{ID: hex.EncodeToString(id[:]), NewOrder: n, Status: store.OrderOpen, Created: fromMS(ms(now))}
		created = true
		_, err = q.Exec(ctx, `INSERT INTO orders (`+orderCols+`) VALUES ($1, $2, $3, $4, $5, $6, 'open', 0, NULL, $7)`,
			ord.ID, n.Payee, n.IdempotencyKey, n.Amount, n.Currency, n.Summary, ms(now))
		return err
	})
	if err != nil {
		return store.Order{}, false, err
	}
	return ord, created, nil
}

// Order implements store.Store.
func (e *Engine) Order(ctx context.Context, id string) (store.Order, error) {
	var o store.Order
	err := e.tx(ctx, func(q Q) error {
		var err error
		o, err = scanOrder(q.QueryRow(ctx, `SELECT `+orderCols+` FROM orders WHERE order_id = $1`, id))
		if errors.Is(err, ErrNoRows) {
			return fmt.Errorf("%w: %q", store.ErrOrderUnknown, id)
		}
		return err
	})
	return o, err
}

// randomChallenge returns a uniformly random non-zero 64-bit value from
// crypto/rand (issue 11: "random 64-bit non-zero").
func randomChallenge() (uint64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("store: challenge: %w", err)
		}
		if v := binary.BigEndian.Uint64(b[:]); v != 0 {
			return v, nil
		}
	}
}

// IssueChallenge implements store.Store.
func (e *Engine) IssueChallenge(ctx context.Context, orderID string, device proof.DeviceID) (store.Challenge, error) {
	var c store.Challenge
	err := e.tx(ctx, func(q Q) error {
		o, err := scanOrder(q.QueryRow(ctx, `SELECT `+orderCols+` FROM orders WHERE order_id = $1`, orderID))
		switch {
		case errors.Is(err, ErrNoRows):
			return fmt.Errorf("%w: %q", store.ErrOrderUnknown, orderID)
		case err != nil:
			return err
		case o.Status != store.OrderOpen:
			return fmt.Errorf("%w: %s", store.ErrOrderPaid, orderID)
		case o.Attempts >= e.o.MaxAttempts:
			return fmt.Errorf("%w: %d of %d", store.ErrTooManyAttempts, o.Attempts, e.o.MaxAttempts)
		}
		if err := deviceUsable(ctx, q, device); err != nil {
			return err
		}
		n, err := q.Exec(ctx, `UPDATE orders SET attempts = attempts + 1 WHERE order_id = $1 AND attempts = $2 AND status = 'open'`,
			orderID, o.Attempts)
		if err != nil {
			return err
		}
		if n == 0 {
			return errRetry
		}
		v, err := randomChallenge()
		if err != nil {
			return err
		}
		now := fromMS(ms(e.o.Now()))
		c = store.Challenge{Value: v, OrderID: orderID, Attempt: o.Attempts + 1, Device: device,
			Amount: o.Amount, Currency: o.Currency, Payee: o.Payee, Issued: now, Expires: now.Add(e.o.ChallengeTTL)}
		// A colliding value is a unique violation: tx runs again with a new one.
		_, err = q.Exec(ctx, `INSERT INTO challenges (value, order_id, attempt, device_id, amount, currency, payee, issued_ms, expires_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			i64(v), orderID, c.Attempt, device[:], c.Amount, c.Currency, c.Payee, ms(c.Issued), ms(c.Expires))
		return err
	})
	if err != nil {
		return store.Challenge{}, err
	}
	return c, nil
}

const ledgerCols = `entry_id, order_id, challenge, device_id, app_id, scene, counter, finger_id, amount, currency, payee,
	statement_hash, request_id, booked_ms, tier, required, satisfied`

func scanReceipt(r Row) (store.Receipt, error) {
	var rc store.Receipt
	var dev, hash []byte
	var challenge, counter, finger, booked, required, satisfied int64
	if err := r.Scan(&rc.EntryID, &rc.OrderID, &challenge, &dev, &rc.Key.App, &rc.Key.Scene, &counter, &finger,
		&rc.Amount, &rc.Currency, &rc.Payee, &hash, &rc.RequestID, &booked,
		&rc.Decision.Tier, &required, &satisfied); err != nil {
		return store.Receipt{}, err
	}
	copy(rc.Key.Device[:], dev)
	copy(rc.StatementHash[:], hash)
	rc.Challenge, rc.Counter, rc.FingerID, rc.Booked = u64(challenge), u64(counter), uint32(finger), fromMS(booked)
	rc.Decision.Required, rc.Decision.Satisfied = policy.Set(required), policy.Set(satisfied)
	return rc, nil
}

// checkDecision: a tier is a policy tier name or empty, the factor sets
// are within policy.All (docs/protocol.md §16.1).
func checkDecision(d store.Decision) error {
	if d.Tier != "" {
		if err := store.CheckTier(d.Tier); err != nil {
			return err
		}
	}
	if d.Required&^policy.All != 0 || d.Satisfied&^policy.All != 0 {
		return invalidf("decision factors %#x/%#x outside %#x", uint8(d.Required), uint8(d.Satisfied), uint8(policy.All))
	}
	return nil
}

func checkBooking(b store.Booking) error {
	switch {
	case len(b.RequestID) == 0 || len(b.RequestID) > store.MaxRequestIDLen:
		return invalidf("request id of %d bytes, want 1..%d", len(b.RequestID), store.MaxRequestIDLen)
	case b.Challenge == 0:
		return invalidf("challenge 0")
	case b.FingerID == 0:
		return invalidf("finger id 0")
	case b.OrderID == "":
		return invalidf("empty order id")
	}
	if err := checkDecision(b.Decision); err != nil {
		return err
	}
	return checkRef(b.Key)
}

// Book implements store.Store. The order of the checks is the order of
// the rules in docs/protocol.md §12; the challenge row is locked first,
// then the order, then the key, in every transaction that touches them,
// so concurrent bookings cannot deadlock.
func (e *Engine) Book(ctx context.Context, b store.Booking) (store.Receipt, error) {
	if err := checkBooking(b); err != nil {
		return store.Receipt{}, err
	}
	var rc store.Receipt
	err := e.tx(ctx, func(q Q) error {
		var err error
		rc, err = e.book(ctx, q, b)
		return err
	})
	if err != nil {
		e.log.Info("refused", zap.String("order", b.OrderID), zap.Error(err))
		return store.Receipt{}, err
	}
	if !rc.Replayed {
		e.log.Info("booked", zap.Int64("entry", rc.EntryID), zap.String("order", rc.OrderID), zap.Uint64("counter", rc.Counter))
	}
	return rc, nil
}

func (e *Engine) book(ctx context.Context, q Q, b store.Booking) (store.Receipt, error) {
	now := ms(e.o.Now())
	// 1. A request id seen in the replay window: its first result.
	var entry int64
	var hash []byte
	err := q.QueryRow(ctx, `SELECT entry_id, statement_hash FROM requests WHERE request_id = $1`, b.RequestID).Scan(&entry, &hash)
	switch {
	case err == nil:
		if !bytes.Equal(hash, b.StatementHash[:]) {
			return store.Receipt{}, fmt.Errorf("%w", store.ErrRequestConflict)
		}
		return e.replay(ctx, q, entry)
	case !errors.Is(err, ErrNoRows):
		return store.Receipt{}, err
	}

	// 2. Consume the challenge: exists, unused, unexpired. The UPDATE
	// takes the row lock, so of two concurrent bookings one waits here and
	// then sees the challenge used.
	var orderID, currency, payee string
	var dev []byte
	var amount int64
	err = q.QueryRow(ctx, `UPDATE challenges SET used_ms = $1
WHERE value = $2 AND used_ms IS NULL AND expires_ms > $1
RETURNING order_id, device_id, amount, currency, payee`, now, i64(b.Challenge)).Scan(&orderID, &dev, &amount, &currency, &payee)
	if errors.Is(err, ErrNoRows) {
		return e.whyNotConsumed(ctx, q, b)
	}
	if err != nil {
		return store.Receipt{}, err
	}
	// 3. The challenge's binding (issue 11: bound to order, amount,
	// currency, payee, device).
	if orderID != b.OrderID || !bytes.Equal(dev, b.Key.Device[:]) || amount != b.Amount || currency != b.Currency || payee != b.Payee {
		return store.Receipt{}, fmt.Errorf("%w: challenge %#x", store.ErrChallengeMismatch, b.Challenge)
	}
	// 4. Device and key registered and not revoked; the finger bound.
	if err := deviceUsable(ctx, q, b.Key.Device); err != nil {
		return store.Receipt{}, err
	}
	var counter int64
	var fingers []byte
	var revoked *int64
	err = q.QueryRow(ctx, `SELECT counter, finger_ids, revoked_ms FROM scene_keys WHERE device_id = $1 AND app_id = $2 AND scene = $3`,
		b.Key.Device[:], b.Key.App, b.Key.Scene).Scan(&counter, &fingers, &revoked)
	switch {
	case errors.Is(err, ErrNoRows):
		return store.Receipt{}, fmt.Errorf("%w: %s", store.ErrKeyUnknown, b.Key)
	case err != nil:
		return store.Receipt{}, err
	case revoked != nil:
		return store.Receipt{}, fmt.Errorf("%w: %s", store.ErrKeyRevoked, b.Key)
	}
	ids, err := decodeFingers(fingers)
	if err != nil {
		return store.Receipt{}, err
	}
	bound := false
	for _, f := range ids {
		bound = bound || f == b.FingerID
	}
	if !bound {
		return store.Receipt{}, fmt.Errorf("%w: finger %d", store.ErrFingerNotBound, b.FingerID)
	}
	// 5. The order is open (one booking per order, whatever the attempt).
	n, err := q.Exec(ctx, `UPDATE orders SET status = 'paid' WHERE order_id = $1 AND status = 'open'`, b.OrderID)
	if err != nil {
		return store.Receipt{}, err
	}
	if n == 0 {
		return store.Receipt{}, fmt.Errorf("%w: %s", store.ErrOrderPaid, b.OrderID)
	}
	// 6. The counter, compare-and-swap: strictly greater than the stored
	// value, compared unsigned; if another booking moved it meanwhile,
	// compare with the new value.
	for range maxTxRuns {
		if b.Counter <= u64(counter) {
			return store.Receipt{}, fmt.Errorf("%w: counter %d, last %d", store.ErrCounter, b.Counter, u64(counter))
		}
		n, err = q.Exec(ctx, `UPDATE scene_keys SET counter = $1 WHERE device_id = $2 AND app_id = $3 AND scene = $4 AND counter = $5`,
			i64(b.Counter), b.Key.Device[:], b.Key.App, b.Key.Scene, counter)
		if err != nil {
			return store.Receipt{}, err
		}
		if n == 1 {
			break
		}
		if err := q.QueryRow(ctx, `SELECT counter FROM scene_keys WHERE device_id = $1 AND app_id = $2 AND scene = $3`,
			b.Key.Device[:], b.Key.App, b.Key.Scene).Scan(&counter); err != nil {
			return store.Receipt{}, err
		}
	}
	if n != 1 {
		return store.Receipt{}, errRetry
	}
	// 7. The ledger row, the order's link to it, the request id.
	rc := store.Receipt{OrderID: b.OrderID, Challenge: b.Challenge, Key: b.Key, Counter: b.Counter, FingerID: b.FingerID,
		Amount: b.Amount, Currency: b.Currency, Payee: b.Payee, StatementHash: b.StatementHash,
		RequestID: append([]byte(nil), b.RequestID...), Booked: fromMS(now), Decision: b.Decision}
	err = q.QueryRow(ctx, `INSERT INTO ledger (order_id, challenge, device_id, app_id, scene, counter, finger_id, amount,
	currency, payee, statement_hash, request_id, booked_ms, tier, required, satisfied)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING entry_id`,
		b.OrderID, i64(b.Challenge), b.Key.Device[:], b.Key.App, b.Key.Scene, i64(b.Counter), int64(b.FingerID), b.Amount,
		b.Currency, b.Payee, b.StatementHash[:], b.RequestID, now,
		b.Decision.Tier, int64(b.Decision.Required), int64(b.Decision.Satisfied)).Scan(&rc.EntryID)
	if err != nil {
		return store.Receipt{}, err
	}
	if _, err := q.Exec(ctx, `UPDATE orders SET entry_id = $1 WHERE order_id = $2`, rc.EntryID, b.OrderID); err != nil {
		return store.Receipt{}, err
	}
	if _, err := q.Exec(ctx, `INSERT INTO requests (request_id, entry_id, statement_hash, created_ms) VALUES ($1, $2, $3, $4)`,
		b.RequestID, rc.EntryID, b.StatementHash[:], now); err != nil {
		return store.Receipt{}, err // a concurrent insert of this id: tx runs again and finds it
	}
	return rc, nil
}

// whyNotConsumed names the rule a challenge that could not be consumed
// broke; a challenge consumed by this very statement returns its first
// booking.
func (e *Engine) whyNotConsumed(ctx context.Context, q Q, b store.Booking) (store.Receipt, error) {
	var used *int64
	var expires int64
	err := q.QueryRow(ctx, `SELECT used_ms, expires_ms FROM challenges WHERE value = $1`, i64(b.Challenge)).Scan(&used, &expires)
	switch {
	case errors.Is(err, ErrNoRows):
		return store.Receipt{}, fmt.Errorf("%w: %#x", store.ErrChallengeUnknown, b.Challenge)
	case err != nil:
		return store.Receipt{}, err
	case used == nil:
		return store.Receipt{}, fmt.Errorf("%w: %#x expired at %s", store.ErrChallengeExpired, b.Challenge,
			fromMS(expires).UTC().Format(time.RFC3339Nano))
	}
	var entry int64
	err = q.QueryRow(ctx, `SELECT entry_id FROM ledger WHERE challenge = $1 AND statement_hash = $2`,
		i64(b.Challenge), b.StatementHash[:]).Scan(&entry)
	switch {
	case errors.Is(err, ErrNoRows):
		return store.Receipt{}, fmt.Errorf("%w: %#x", store.ErrChallengeUsed, b.Challenge)
	case err != nil:
		return store.Receipt{}, err
	}
	return e.replay(ctx, q, entry)
}

func (e *Engine) replay(ctx context.Context, q Q, entry int64) (store.Receipt, error) {
	rc, err := scanReceipt(q.QueryRow(ctx, `SELECT `+ledgerCols+` FROM ledger WHERE entry_id = $1`, entry))
	if err != nil {
		return store.Receipt{}, fmt.Errorf("store: ledger entry %d: %w", entry, err)
	}
	rc.Replayed = true
	return rc, nil
}

// Ledger implements store.Store.
func (e *Engine) Ledger(ctx context.Context, after int64, limit int) ([]store.Receipt, error) {
	if limit < 1 || limit > store.MaxLedgerPage {
		return nil, invalidf("ledger page of %d rows, want 1..%d", limit, store.MaxLedgerPage)
	}
	var out []store.Receipt
	err := e.tx(ctx, func(q Q) error {
		out = out[:0]
		rows, err := q.Query(ctx, `SELECT `+ledgerCols+` FROM ledger WHERE entry_id > $1 ORDER BY entry_id LIMIT $2`, after, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			rc, err := scanReceipt(rows)
			if err != nil {
				return err
			}
			out = append(out, rc)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Prune implements store.Store: challenges are kept ReplayWindow past
// their expiry (so a replay within the window still finds its first
// booking), request ids ReplayWindow past their booking.
func (e *Engine) Prune(ctx context.Context) (store.Pruned, error) {
	var p store.Pruned
	cut := ms(e.o.Now().Add(-e.o.ReplayWindow))
	err := e.tx(ctx, func(q Q) error {
		var err error
		if p.Challenges, err = q.Exec(ctx, `DELETE FROM challenges WHERE expires_ms <= $1`, cut); err != nil {
			return err
		}
		p.Requests, err = q.Exec(ctx, `DELETE FROM requests WHERE created_ms <= $1`, cut)
		return err
	})
	if err != nil {
		return store.Pruned{}, err
	}
	if p.Challenges+p.Requests > 0 {
		e.log.Info("pruned", zap.Int64("challenges", p.Challenges), zap.Int64("requests", p.Requests))
	}
	return p, nil
}
