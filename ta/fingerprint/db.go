package fingerprint

import (
	"errors"
	"fmt"

	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/marks"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tee/tacore"
)

// Tables of the fingerprint TA's sealed store. Every value column is sealed
// (tee/store SM4-GCM) with the row's identity as associated data, so a
// template, an authenticator id or a lockout state copied onto another
// group or finger does not open.
const (
	tableTemplates = "fp_templates"
	tableGroups    = "fp_groups"
	tableLockout   = "fp_lockout"
)

// replayMarks is the table of envelope replay marks (tee/marks).
var replayMarks = marks.MustTable("fp_replay_marks", ErrCorrupt)

// Schema returns the migrations of the fingerprint TA's database:
//
//	fp_templates(gid, fid, record)  one enrolled finger: the sealed
//	    template record (SID ‖ matcher name ‖ template); identity
//	    Str("group") ‖ U32(gid) ‖ Str("finger") ‖ U32(fid)
//	fp_groups(gid, state)           the group's sealed authenticator id,
//	    present while the group has templates; identity Str("group") ‖ U32(gid)
//	fp_lockout(gid, state)          the group's sealed lockout state (failed
//	    attempts, timed-lockout deadline, its boot); identity Str("group") ‖ U32(gid)
//	fp_replay_marks(sender, recipient, boot_id, mark)  the envelope replay
//	    high-water mark of a route in one boot (tee/marks); identity
//	    Str("route") ‖ TA(sender) ‖ TA(recipient) ‖ Raw(boot_id)
//
// A caller that opens the store itself (Config.Store) must use this schema.
func Schema() store.Schema {
	return store.Schema{
		store.SQL("fingerprint v1: templates, groups, lockout, replay marks", `
CREATE TABLE fp_templates (
	gid    INTEGER NOT NULL CHECK (gid >= 0 AND gid <= 4294967295),
	fid    INTEGER NOT NULL CHECK (fid >= 1 AND fid <= 4294967295),
	record BLOB NOT NULL,
	PRIMARY KEY (gid, fid)
) WITHOUT ROWID;
`+store.U32Table("fp_groups", "gid", "state")+
			store.U32Table("fp_lockout", "gid", "state")+
			replayMarks.CreateSQL()),
	}
}

// ErrCorrupt reports a sealed row that opened but is not what its row says.
var ErrCorrupt = errors.New("fingerprint: stored state inconsistent")

func templateIdentity(gid, fid uint32) []byte {
	return store.Identity(store.Str("group"), store.U32(gid), store.Str("finger"), store.U32(fid))
}

func groupIdentity(gid uint32) []byte { return store.Identity(store.Str("group"), store.U32(gid)) }

// enrolled is one template as loaded from the store.
type enrolled struct {
	FID    uint32
	Record templateRecord
}

// listFingers returns the finger ids of gid, ascending.
func listFingers(tx *store.Tx, gid uint32) ([]uint32, error) {
	rows, err := tx.Query(`SELECT fid FROM fp_templates WHERE gid = ? ORDER BY fid`, int64(gid))
	if err != nil {
		return nil, fmt.Errorf("fingerprint: list fingers: %w", err)
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var fid int64
		if err := rows.Scan(&fid); err != nil {
			return nil, err
		}
		out = append(out, uint32(fid))
	}
	return out, rows.Err()
}

// listGroups returns every group with templates, ascending.
func listGroups(tx *store.Tx) ([]uint32, error) {
	rows, err := tx.Query(`SELECT DISTINCT gid FROM fp_templates ORDER BY gid`)
	if err != nil {
		return nil, fmt.Errorf("fingerprint: list groups: %w", err)
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var gid int64
		if err := rows.Scan(&gid); err != nil {
			return nil, err
		}
		out = append(out, uint32(gid))
	}
	return out, rows.Err()
}

// loadTemplates returns gid's templates, ascending by finger id. A row that
// does not open or parse fails the whole load (never a partial group).
func loadTemplates(tx *store.Tx, gid uint32) ([]enrolled, error) {
	rows, err := tx.Query(`SELECT fid, record FROM fp_templates WHERE gid = ? ORDER BY fid`, int64(gid))
	if err != nil {
		return nil, fmt.Errorf("fingerprint: load templates: %w", err)
	}
	defer rows.Close()
	var out []enrolled
	for rows.Next() {
		var fid int64
		var sealed []byte
		if err := rows.Scan(&fid, &sealed); err != nil {
			return nil, err
		}
		b, err := tx.Unseal(tableTemplates, templateIdentity(gid, uint32(fid)), sealed)
		if err != nil {
			return nil, fmt.Errorf("fingerprint: template %d/%d: %w", gid, fid, err)
		}
		r, err := parseTemplateRecord(b)
		if err != nil {
			return nil, fmt.Errorf("%w: template %d/%d: %w", ErrCorrupt, gid, fid, err)
		}
		out = append(out, enrolled{FID: uint32(fid), Record: r})
	}
	return out, rows.Err()
}

func putTemplate(tx *store.Tx, gid, fid uint32, r templateRecord) error {
	b, err := r.marshal()
	if err != nil {
		return err
	}
	err = tx.PutSealed(tableTemplates, templateIdentity(gid, fid), b,
		`INSERT INTO fp_templates(gid, fid, record) VALUES (?, ?, ?)`, int64(gid), int64(fid))
	return tacore.Wrapf(err, "fingerprint: template %d/%d", gid, fid)
}

func deleteTemplates(tx *store.Tx, gid uint32, fids []uint32) error {
	for _, fid := range fids {
		if _, err := tx.Exec(`DELETE FROM fp_templates WHERE gid = ? AND fid = ?`, int64(gid), int64(fid)); err != nil {
			return fmt.Errorf("fingerprint: delete template: %w", err)
		}
	}
	return nil
}

// groupSID returns the SID gid's templates are bound to (every enrollment
// binds its HAT's user_id; ENROLL keeps one SID per group), and bound =
// false for a group without templates. Templates bound to different SIDs
// — which ENROLL never stores — are ErrCorrupt: the group has no single
// owner, and every check that needs one fails closed.
func groupSID(tx *store.Tx, gid uint32) (sid uint64, bound bool, err error) {
	recs, err := loadTemplates(tx, gid)
	if err != nil {
		return 0, false, err
	}
	for i, r := range recs {
		if i > 0 && r.Record.SID != sid {
			return 0, false, fmt.Errorf("%w: group %d has templates of two SIDs", ErrCorrupt, gid)
		}
		sid = r.Record.SID
	}
	return sid, len(recs) > 0, nil
}

// loadAuthenticatorID returns gid's authenticator id, 0 when the group has
// no row (no templates).
func loadAuthenticatorID(tx *store.Tx, gid uint32) (uint64, error) {
	b, ok, err := tx.LoadSealed(tableGroups, groupIdentity(gid), `SELECT state FROM fp_groups WHERE gid = ?`, int64(gid))
	if err != nil || !ok {
		return 0, tacore.Wrapf(err, "fingerprint: group %d", gid)
	}
	r, err := parseGroupRecord(b)
	if err != nil {
		return 0, fmt.Errorf("%w: group %d: %w", ErrCorrupt, gid, err)
	}
	return r.AuthenticatorID, nil
}

// putAuthenticatorID stores gid's id; 0 deletes the row.
func putAuthenticatorID(tx *store.Tx, gid uint32, id uint64) error {
	if id == 0 {
		_, err := tx.Exec(`DELETE FROM fp_groups WHERE gid = ?`, int64(gid))
		return err
	}
	return tx.PutSealed(tableGroups, groupIdentity(gid), groupRecord{AuthenticatorID: id}.marshal(),
		`INSERT INTO fp_groups(gid, state) VALUES (?, ?)
		ON CONFLICT(gid) DO UPDATE SET state = excluded.state`, int64(gid))
}

// loadLockout returns gid's stored lockout state (the zero state if none).
func loadLockout(tx *store.Tx, gid uint32) (Lockout, error) {
	b, ok, err := tx.LoadSealed(tableLockout, groupIdentity(gid), `SELECT state FROM fp_lockout WHERE gid = ?`, int64(gid))
	if err != nil || !ok {
		return Lockout{}, tacore.Wrapf(err, "fingerprint: lockout %d", gid)
	}
	l, err := parseLockout(b)
	if err != nil {
		return Lockout{}, fmt.Errorf("%w: lockout %d: %w", ErrCorrupt, gid, err)
	}
	return l, nil
}

// putLockout stores gid's state; a zero count deletes the row.
func putLockout(tx *store.Tx, gid uint32, l Lockout) error {
	if l.Failed == 0 {
		_, err := tx.Exec(`DELETE FROM fp_lockout WHERE gid = ?`, int64(gid))
		return err
	}
	b, err := l.marshal()
	if err != nil {
		return err
	}
	return tx.PutSealed(tableLockout, groupIdentity(gid), b, `INSERT INTO fp_lockout(gid, state) VALUES (?, ?)
		ON CONFLICT(gid) DO UPDATE SET state = excluded.state`, int64(gid))
}

// NewMarkStore returns an envelope.MarkStore keeping the replay marks of
// boot bootID in st, which must have been opened with Schema: a
// marks.Store over fp_replay_marks, where a mark written in another boot
// reads as 0. NewTA uses it; it is exported for a caller that builds its
// own envelope.Opener (Config.Opener) over the fingerprint store. Errors
// wrap ErrConfig.
func NewMarkStore(st *store.Store, bootID []byte) (envelope.MarkStore, error) {
	m, err := marks.NewStore(st, replayMarks, bootID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return m, nil
}
