package payment

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/marks"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tee/tacore"
)

// Sealed-value table labels (the "table" of the associated data).
const (
	tableKeys    = "pay_keys"
	tableFingers = "pay_finger_lists"
	tableCounter = "pay_counter"
)

// replayMarks is the table of envelope replay marks (tee/marks).
var replayMarks = marks.MustTable("pay_replay_marks", ErrCorruptRecord)

// Schema returns the store schema of the payment TA's database:
//
//	pay_keys(kind, app_id, scene, record, owner)
//	    the keys of the hierarchy; record is a sealed keyRecord, identity
//	    Str("key") ‖ U32(kind) ‖ Str(app_id) ‖ Str(scene). owner (v2) is
//	    the record's owner in clear, only to count keys per identity for
//	    the quota: access decisions read the sealed owner. Rows of v1 have
//	    the empty owner.
//	pay_finger_lists(gid, list)
//	    the latest finger list of a group; list is the sealed bio.FingerList
//	    bytes, identity Str("gid") ‖ U32(gid)
//	pay_counter(id = 1, value)
//	    the statement counter, sealed u64 big-endian, identity Str("counter")
//	pay_replay_marks(sender, recipient, boot_id, mark)
//	    envelope replay high-water marks of the current boot (tee/marks);
//	    mark sealed, identity Str("route") ‖ TA(sender) ‖ TA(recipient) ‖
//	    Raw(boot_id)
//	pay_chan_keys(kind, record)  (v3)
//	    the trusted channel's keys (payproto.ChannelKeyKind): record is a
//	    sealed chanKey (private key and installed certificate), identity
//	    Str("chankey") ‖ U32(kind)
func Schema() store.Schema {
	return store.Schema{
		store.SQL("payment v1: keys, finger lists, counter, replay marks", `
CREATE TABLE pay_keys (
	kind   INTEGER NOT NULL CHECK (kind IN (1, 2, 3)),
	app_id BLOB NOT NULL,
	scene  BLOB NOT NULL,
	record BLOB NOT NULL,
	PRIMARY KEY (kind, app_id, scene)
) WITHOUT ROWID;
`+store.U32Table("pay_finger_lists", "gid", "list")+`
CREATE TABLE pay_counter (
	id    INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
	value BLOB NOT NULL
);
`+replayMarks.CreateSQL()),
		store.SQL("payment v2: key owners (client identities) for the per-identity quota", `
ALTER TABLE pay_keys ADD COLUMN owner BLOB NOT NULL DEFAULT x'';
CREATE INDEX pay_keys_owner ON pay_keys(owner);
`),
		store.SQL("payment v3: trusted channel keys", `
CREATE TABLE pay_chan_keys (
	kind   INTEGER PRIMARY KEY NOT NULL CHECK (kind IN (1, 2, 3)),
	record BLOB NOT NULL
);
`),
	}
}

func keyIdentity(kind proof.Kind, ref payproto.KeyRef) []byte {
	return store.Identity(store.Str("key"), store.U32(uint32(kind)), store.Str(ref.AppID), store.Str(ref.Scene))
}

var counterIdentity = store.Identity(store.Str("counter"))

// loadKey returns the record of kind/ref, or ok=false.
func loadKey(tx *store.Tx, kind proof.Kind, ref payproto.KeyRef) (keyRecord, bool, error) {
	b, ok, err := tx.LoadSealed(tableKeys, keyIdentity(kind, ref), `SELECT record FROM pay_keys WHERE kind = ? AND app_id = ? AND scene = ?`,
		int64(kind), []byte(ref.AppID), []byte(ref.Scene))
	if err != nil || !ok {
		return keyRecord{}, false, tacore.Wrapf(err, "payment: %s key %s", kind, ref)
	}
	defer clear(b)
	r, err := parseKeyRecord(b)
	if err != nil {
		return keyRecord{}, false, err
	}
	if r.kind != kind {
		return keyRecord{}, false, fmt.Errorf("%w: %s row holds a %s key", ErrCorruptRecord, kind, r.kind)
	}
	return r, true, nil
}

func putKey(tx *store.Tx, ref payproto.KeyRef, r *keyRecord) error {
	b, err := r.marshal()
	if err != nil {
		return err
	}
	defer clear(b)
	err = tx.PutSealed(tableKeys, keyIdentity(r.kind, ref), b, `INSERT INTO pay_keys(kind, app_id, scene, owner, record) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(kind, app_id, scene) DO UPDATE SET record = excluded.record, owner = excluded.owner`,
		int64(r.kind), []byte(ref.AppID), []byte(ref.Scene), r.owner[:])
	return tacore.Wrapf(err, "payment: %s key %s", r.kind, ref)
}

// countOwned returns the number of keys (app and scene) owner holds.
func countOwned(tx *store.Tx, owner tee.UUID) (int, error) {
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM pay_keys WHERE owner = ?`, owner[:]).Scan(&n); err != nil {
		return 0, fmt.Errorf("payment: count keys: %w", err)
	}
	return n, nil
}

// deleteApp removes the app key of app and all its scene keys; ok=false if
// there was no app key.
func deleteApp(tx *store.Tx, app string) (bool, error) {
	res, err := tx.Exec(`DELETE FROM pay_keys WHERE kind = ? AND app_id = ?`, int64(proof.KindApp), []byte(app))
	if err != nil {
		return false, fmt.Errorf("payment: delete app key: %w", err)
	}
	n, _ := res.RowsAffected()
	if _, err := tx.Exec(`DELETE FROM pay_keys WHERE kind = ? AND app_id = ?`, int64(proof.KindScene), []byte(app)); err != nil {
		return false, fmt.Errorf("payment: delete scene keys: %w", err)
	}
	return n > 0, nil
}

func deleteScene(tx *store.Tx, ref payproto.KeyRef) (bool, error) {
	res, err := tx.Exec(`DELETE FROM pay_keys WHERE kind = ? AND app_id = ? AND scene = ?`,
		int64(proof.KindScene), []byte(ref.AppID), []byte(ref.Scene))
	if err != nil {
		return false, fmt.Errorf("payment: delete scene key: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// sceneRefs lists every scene key.
func sceneRefs(tx *store.Tx) ([]payproto.KeyRef, error) {
	rows, err := tx.Query(`SELECT app_id, scene FROM pay_keys WHERE kind = ?`, int64(proof.KindScene))
	if err != nil {
		return nil, fmt.Errorf("payment: list scene keys: %w", err)
	}
	defer rows.Close()
	var out []payproto.KeyRef
	for rows.Next() {
		var app, scene []byte
		if err := rows.Scan(&app, &scene); err != nil {
			return nil, fmt.Errorf("payment: list scene keys: %w", err)
		}
		out = append(out, payproto.KeyRef{AppID: string(app), Scene: string(scene)})
	}
	return out, rows.Err()
}

func fingerIdentity(gid uint32) []byte { return store.Identity(store.Str("gid"), store.U32(gid)) }

// loadFingerList returns the latest finger list of gid, or ok=false.
func loadFingerList(tx *store.Tx, gid uint32) (bio.FingerList, bool, error) {
	b, ok, err := tx.LoadSealed(tableFingers, fingerIdentity(gid), `SELECT list FROM pay_finger_lists WHERE gid = ?`, int64(gid))
	if err != nil || !ok {
		return bio.FingerList{}, false, tacore.Wrapf(err, "payment: finger list of group %d", gid)
	}
	l, err := bio.ParseFingerList(b)
	if err != nil || l.GroupID != gid {
		return bio.FingerList{}, false, fmt.Errorf("%w: finger list of group %d", ErrCorruptRecord, gid)
	}
	return l, true, nil
}

func putFingerList(tx *store.Tx, l bio.FingerList) error {
	b, err := l.Marshal()
	if err != nil {
		return err
	}
	err = tx.PutSealed(tableFingers, fingerIdentity(l.GroupID), b, `INSERT INTO pay_finger_lists(gid, list) VALUES (?, ?)
		ON CONFLICT(gid) DO UPDATE SET list = excluded.list`, int64(l.GroupID))
	return tacore.Wrapf(err, "payment: finger list of group %d", l.GroupID)
}

// nextCounter increments the persisted counter and returns the new value
// (1 for the first call on a fresh store). It is part of the caller's
// transaction, so the value is used only if the transaction commits.
func nextCounter(tx *store.Tx) (uint64, error) {
	var cur uint64
	b, ok, err := tx.LoadSealed(tableCounter, counterIdentity, `SELECT value FROM pay_counter WHERE id = 1`)
	if err != nil {
		return 0, fmt.Errorf("payment: counter: %w", err)
	}
	if ok {
		if len(b) != 8 {
			return 0, fmt.Errorf("%w: counter of %d bytes", ErrCorruptRecord, len(b))
		}
		cur = binary.BigEndian.Uint64(b)
	}
	if cur == ^uint64(0) {
		return 0, fmt.Errorf("%w: counter exhausted", ErrCorruptRecord)
	}
	next := cur + 1
	err = tx.PutSealed(tableCounter, counterIdentity, binary.BigEndian.AppendUint64(nil, next),
		`INSERT INTO pay_counter(id, value) VALUES (1, ?)
		ON CONFLICT(id) DO UPDATE SET value = excluded.value`)
	if err != nil {
		return 0, fmt.Errorf("payment: counter: %w", err)
	}
	return next, nil
}

// stagedGuard is the envelope.ReplayGuard of the payment TA. Accept only
// checks the sequence number against the stored mark and stages it; the
// caller writes the mark in the same transaction as the effect of the
// message (commitMark), so a crash between the two cannot lose a finger
// list while burning its sequence number. Callers serialise Open + commit
// (TA.deliverMu). It is the TA's tacore.Spec.Guard: st is the store
// tacore opened.
type stagedGuard struct {
	st     *store.Store
	bootID []byte
	staged *stagedMark
}

type stagedMark struct {
	route tee.Route
	seq   uint64
}

// Accept implements envelope.ReplayGuard.
func (g *stagedGuard) Accept(route tee.Route, seq uint64) error {
	var mark uint64
	err := g.st.View(context.Background(), func(tx *store.Tx) error {
		var err error
		mark, err = replayMarks.Load(tx, route, g.bootID)
		return err
	})
	if err != nil {
		return err
	}
	if seq <= mark {
		return fmt.Errorf("%w: %s sequence %d, already accepted up to %d", envelope.ErrReplay, route, seq, mark)
	}
	g.staged = &stagedMark{route: route, seq: seq}
	return nil
}

// take returns and clears the staged mark.
func (g *stagedGuard) take() *stagedMark {
	m := g.staged
	g.staged = nil
	return m
}
