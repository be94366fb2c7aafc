package marks

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/store"
)

// MaxBootIDLen bounds the boot id marks are scoped to (tee/boot.BootIDSize
// is 16; the bound leaves room for a vendor's own boot identifiers).
const MaxBootIDLen = 64

// maxNameLen bounds a table name.
const maxNameLen = 64

var (
	// ErrCorrupt: a stored mark opened (so it is authentic) but is not an
	// 8-byte sequence number. A Table built with the TA's own sentinel
	// wraps that one instead.
	ErrCorrupt = errors.New("marks: stored replay mark inconsistent with its row")
	// ErrInvalid: a nil store, a zero Table, or a boot id outside
	// 1..MaxBootIDLen bytes.
	ErrInvalid = errors.New("marks: invalid argument")
)

// Table is one TA's replay-mark table. Build it once, as a package-level
// variable, with MustTable.
type Table struct {
	name    string
	corrupt error
}

// MustTable returns the replay-mark table name of a TA's store. name is
// both the SQL table and the sealing label of its marks, so it must never
// change once a database has been created with it. corrupt, if not nil, is
// the TA's own "stored record inconsistent" sentinel: errors about a mark
// that opened but is not a sequence number wrap it instead of ErrCorrupt.
//
// MustTable panics if name is not a lower-case SQL identifier
// ([a-z][a-z0-9_]*, at most 64 bytes): the name is spliced into SQL and is
// a constant of the TA's code, never input, like a regexp.MustCompile
// pattern.
func MustTable(name string, corrupt error) Table {
	if !validName(name) {
		panic(fmt.Sprintf("marks: table name %q is not a lower-case SQL identifier", name))
	}
	if corrupt == nil {
		corrupt = ErrCorrupt
	}
	return Table{name: name, corrupt: corrupt}
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// Name returns the table's name.
func (t Table) Name() string { return t.name }

// CreateSQL returns the CREATE TABLE statement of the table (see the
// package doc), ending in ";\n", for the TA's migration script.
func (t Table) CreateSQL() string {
	return "CREATE TABLE " + t.name + ` (
	sender    BLOB NOT NULL,
	recipient BLOB NOT NULL,
	boot_id   BLOB NOT NULL,
	mark      BLOB NOT NULL,
	PRIMARY KEY (sender, recipient)
) WITHOUT ROWID;
`
}

func (t Table) check(bootID []byte) error {
	if t.name == "" {
		return fmt.Errorf("%w: zero Table (use MustTable)", ErrInvalid)
	}
	return checkBootID(bootID)
}

func checkBootID(bootID []byte) error {
	if len(bootID) == 0 || len(bootID) > MaxBootIDLen {
		return fmt.Errorf("%w: boot id must be 1..%d bytes", ErrInvalid, MaxBootIDLen)
	}
	return nil
}

func identity(r tee.Route, bootID []byte) []byte {
	return store.Identity(store.Str("route"), store.TA(r.From), store.TA(r.To), store.Raw(bootID))
}

// Load returns the mark of route r in boot bootID within tx: 0 if none is
// stored, or if the stored one belongs to another boot.
func (t Table) Load(tx *store.Tx, r tee.Route, bootID []byte) (uint64, error) {
	if err := t.check(bootID); err != nil {
		return 0, err
	}
	var boot, sealed []byte
	err := tx.QueryRow(`SELECT boot_id, mark FROM `+t.name+` WHERE sender = ? AND recipient = ?`,
		r.From[:], r.To[:]).Scan(&boot, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("marks: load %s mark of %s: %w", t.name, r, err)
	}
	if !bytes.Equal(boot, bootID) {
		return 0, nil // a mark of an earlier boot
	}
	b, err := tx.Unseal(t.name, identity(r, bootID), sealed)
	if err != nil {
		return 0, fmt.Errorf("marks: %s mark of %s: %w", t.name, r, err)
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: %s mark of %s is %d bytes", t.corrupt, t.name, r, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// Put records seq as the mark of route r in boot bootID within tx,
// replacing the route's mark of any boot. It does not compare seq with the
// stored mark: that is the replay guard's job.
func (t Table) Put(tx *store.Tx, r tee.Route, bootID []byte, seq uint64) error {
	if err := t.check(bootID); err != nil {
		return err
	}
	sealed, err := tx.Seal(t.name, identity(r, bootID), binary.BigEndian.AppendUint64(nil, seq))
	if err != nil {
		return fmt.Errorf("marks: seal %s mark of %s: %w", t.name, r, err)
	}
	_, err = tx.Exec(`INSERT INTO `+t.name+`(sender, recipient, boot_id, mark) VALUES (?, ?, ?, ?)
		ON CONFLICT(sender, recipient) DO UPDATE SET boot_id = excluded.boot_id, mark = excluded.mark`,
		r.From[:], r.To[:], bootID, sealed)
	if err != nil {
		return fmt.Errorf("marks: store %s mark of %s: %w", t.name, r, err)
	}
	return nil
}

// Store is an envelope.MarkStore over a Table of a sealed store, scoped to
// one boot. LoadMark reads in its own read transaction and StoreMark
// writes in its own write transaction; envelope.MarkGuard serialises them.
type Store struct {
	st     *store.Store
	table  Table
	bootID []byte
}

var _ envelope.MarkStore = (*Store)(nil)

// NewStore returns the marks of boot bootID (1..MaxBootIDLen bytes) kept in
// table of st, which must have been opened with a schema that creates the
// table (Table.CreateSQL). Errors wrap ErrInvalid.
func NewStore(st *store.Store, table Table, bootID []byte) (*Store, error) {
	if st == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalid)
	}
	if err := table.check(bootID); err != nil {
		return nil, err
	}
	return &Store{st: st, table: table, bootID: bytes.Clone(bootID)}, nil
}

// LoadMark implements envelope.MarkStore.
func (s *Store) LoadMark(r tee.Route) (uint64, error) {
	var mark uint64
	err := s.st.View(context.Background(), func(tx *store.Tx) error {
		var err error
		mark, err = s.table.Load(tx, r, s.bootID)
		return err
	})
	if err != nil {
		return 0, err
	}
	return mark, nil
}

// StoreMark implements envelope.MarkStore.
func (s *Store) StoreMark(r tee.Route, seq uint64) error {
	return s.st.Tx(context.Background(), func(tx *store.Tx) error {
		return s.table.Put(tx, r, s.bootID, seq)
	})
}
