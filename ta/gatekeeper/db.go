package gatekeeper

import (
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/marks"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tee/tacore"
)

// Tables of the Gatekeeper TA's sealed store. Every value column is sealed
// (tee/store SM4-GCM) with the row's identity as associated data, so a row
// copied onto another user, SID or route does not open.
const (
	tableUsers    = "gk_users"
	tableFailures = "gk_failure_records"
)

// replayMarks is the table of envelope replay marks (tee/marks).
var replayMarks = marks.MustTable("gk_replay_marks", ErrCorruptRecord)

// Schema returns the migrations of the Gatekeeper TA's database:
//
//	gk_users(uid INTEGER PRIMARY KEY, handle BLOB)
//	    the password handle currently enrolled for an Android user id;
//	    sealed, identity Str("uid") ‖ U32(uid)
//	gk_failure_records(sid INTEGER PRIMARY KEY, record BLOB)
//	    failure_record_t of a secure user ID (sid stored as the int64 with
//	    the same bits); sealed, identity Str("sid") ‖ U64(sid)
//	gk_replay_marks(sender, recipient, boot_id, mark)
//	    the envelope replay high-water mark of a route in one boot
//	    (tee/marks); the mark (u64 big-endian) sealed, identity
//	    Str("route") ‖ TA(sender) ‖ TA(recipient) ‖ Raw(boot_id)
//
// A caller that opens the store itself (Config.Store) must open it with
// this schema.
func Schema() store.Schema {
	return store.Schema{
		store.SQL("gatekeeper v1: users, failure records, replay marks",
			store.U32Table("gk_users", "uid", "handle")+`
CREATE TABLE gk_failure_records (
	sid    INTEGER PRIMARY KEY NOT NULL,
	record BLOB NOT NULL
);
`+replayMarks.CreateSQL()),
	}
}

// ErrCorruptRecord reports a sealed row that opened but does not hold what
// its identity says (e.g. a failure record naming another SID) — the
// "secure storage corrupt" case of TrustyGateKeeper::GetSecureFailureRecord.
var ErrCorruptRecord = errors.New("gatekeeper: stored record inconsistent with its row")

func userIdentity(uid uint32) []byte { return store.Identity(store.Str("uid"), store.U32(uid)) }
func sidIdentity(sid uint64) []byte  { return store.Identity(store.Str("sid"), store.U64(sid)) }

// loadUser returns the enrolled handle of uid, or ok=false.
func loadUser(tx *store.Tx, uid uint32) (h gkproto.PasswordHandle, raw []byte, ok bool, err error) {
	raw, ok, err = tx.LoadSealed(tableUsers, userIdentity(uid), `SELECT handle FROM gk_users WHERE uid = ?`, int64(uid))
	if err != nil || !ok {
		return gkproto.PasswordHandle{}, nil, false, tacore.Wrapf(err, "gatekeeper: user %d", uid)
	}
	h, err = gkproto.ParseHandle(raw)
	if err != nil {
		return gkproto.PasswordHandle{}, nil, false, fmt.Errorf("%w: user %d: %w", ErrCorruptRecord, uid, err)
	}
	return h, raw, true, nil
}

// isEnrolled reports whether handle is exactly the handle enrolled for uid
// (constant-time comparison) and returns its parsed form.
func isEnrolled(tx *store.Tx, uid uint32, handle []byte) (gkproto.PasswordHandle, bool, error) {
	h, raw, ok, err := loadUser(tx, uid)
	if err != nil || !ok {
		return gkproto.PasswordHandle{}, false, err
	}
	if len(handle) != len(raw) || subtle.ConstantTimeCompare(handle, raw) != 1 {
		return gkproto.PasswordHandle{}, false, nil
	}
	return h, true, nil
}

func putUser(tx *store.Tx, uid uint32, h *gkproto.PasswordHandle) error {
	err := tx.PutSealed(tableUsers, userIdentity(uid), h.Marshal(), `INSERT INTO gk_users(uid, handle) VALUES (?, ?)
		ON CONFLICT(uid) DO UPDATE SET handle = excluded.handle`, int64(uid))
	return tacore.Wrapf(err, "gatekeeper: user %d", uid)
}

// loadRecord is GetFailureRecord: the stored record of sid, or a zero record
// for sid if none is stored.
func loadRecord(tx *store.Tx, sid uint64) (FailureRecord, error) {
	b, ok, err := tx.LoadSealed(tableFailures, sidIdentity(sid), `SELECT record FROM gk_failure_records WHERE sid = ?`, int64(sid))
	if err != nil {
		return FailureRecord{}, fmt.Errorf("gatekeeper: failure record: %w", err)
	}
	if !ok {
		return FailureRecord{SecureUserID: sid}, nil
	}
	r, err := ParseFailureRecord(b)
	if err != nil {
		return FailureRecord{}, fmt.Errorf("%w: %w", ErrCorruptRecord, err)
	}
	if r.SecureUserID != sid {
		return FailureRecord{}, fmt.Errorf("%w: failure record names another secure user id", ErrCorruptRecord)
	}
	return r, nil
}

// putRecord is WriteFailureRecord.
func putRecord(tx *store.Tx, r FailureRecord) error {
	err := tx.PutSealed(tableFailures, sidIdentity(r.SecureUserID), r.Marshal(), `INSERT INTO gk_failure_records(sid, record) VALUES (?, ?)
		ON CONFLICT(sid) DO UPDATE SET record = excluded.record`, int64(r.SecureUserID))
	return tacore.Wrapf(err, "gatekeeper: failure record")
}

// clearRecord is ClearFailureRecord: the record of sid goes back to zero
// (the row is removed; loadRecord then returns the zero record).
func clearRecord(tx *store.Tx, sid uint64) error {
	if _, err := tx.Exec(`DELETE FROM gk_failure_records WHERE sid = ?`, int64(sid)); err != nil {
		return fmt.Errorf("gatekeeper: clear failure record: %w", err)
	}
	return nil
}

// deleteUser removes uid and its SID's failure record; ok=false if uid was
// not enrolled.
func deleteUser(tx *store.Tx, uid uint32) (bool, error) {
	h, _, ok, err := loadUser(tx, uid)
	if err != nil || !ok {
		return false, err
	}
	if _, err := tx.Exec(`DELETE FROM gk_users WHERE uid = ?`, int64(uid)); err != nil {
		return false, fmt.Errorf("gatekeeper: delete user %d: %w", uid, err)
	}
	return true, clearRecord(tx, h.UserID)
}

// deleteAllUsers removes every user and failure record.
func deleteAllUsers(tx *store.Tx) error {
	if _, err := tx.Exec(`DELETE FROM gk_users; DELETE FROM gk_failure_records;`); err != nil {
		return fmt.Errorf("gatekeeper: delete all users: %w", err)
	}
	return nil
}

// NewMarkStore returns an envelope.MarkStore that keeps the replay
// high-water marks of the boot bootID in st, which must have been opened
// with Schema: a marks.Store over the gk_replay_marks table, where a mark
// of another boot reads as 0. NewTA uses it; it is exported for a caller
// that builds its own envelope.Opener (Config.Opener) over the Gatekeeper
// store. Errors wrap ErrConfig.
func NewMarkStore(st *store.Store, bootID []byte) (envelope.MarkStore, error) {
	m, err := marks.NewStore(st, replayMarks, bootID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return m, nil
}
