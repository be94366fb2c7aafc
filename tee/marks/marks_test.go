package marks

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/store"
)

var (
	errTACorrupt = errors.New("ta: stored record inconsistent")
	testTable    = MustTable("ta_replay_marks", errTACorrupt)

	kmToGK  = tee.Route{From: tee.UUIDKeymaster, To: tee.UUIDGatekeeper}
	fpToPay = tee.Route{From: tee.UUIDFingerprint, To: tee.UUIDPayment}
	bootA   = []byte("boot-A-0123456789")
	bootB   = []byte("boot-B-0123456789")
)

func testKey() []byte {
	k := sha256.Sum256([]byte("fpemu tee/marks test storage key"))
	return k[:]
}

func schemaOf(tables ...Table) store.Schema {
	script := ""
	for _, t := range tables {
		script += t.CreateSQL()
	}
	return store.Schema{store.SQL("marks test v1", script)}
}

func openAt(t testing.TB, path string, tables ...Table) *store.Store {
	t.Helper()
	st, err := store.Open(path, testKey(), schemaOf(tables...))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func openTest(t testing.TB) *store.Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "ta.db"), testTable)
}

func newStore(t testing.TB, st *store.Store, bootID []byte) *Store {
	t.Helper()
	m, err := NewStore(st, testTable, bootID)
	require.NoError(t, err)
	return m
}

func load(t testing.TB, st *store.Store, tbl Table, r tee.Route, bootID []byte) (uint64, error) {
	t.Helper()
	var mark uint64
	err := st.View(context.Background(), func(tx *store.Tx) error {
		var err error
		mark, err = tbl.Load(tx, r, bootID)
		return err
	})
	return mark, err
}

// TestCreateSQL pins the statement to the text the Gatekeeper, fingerprint
// and payment TAs shipped in their v1 migrations before this package
// existed, so a fresh database is created exactly as before.
func TestCreateSQL(t *testing.T) {
	require.Equal(t, `CREATE TABLE gk_replay_marks (
	sender    BLOB NOT NULL,
	recipient BLOB NOT NULL,
	boot_id   BLOB NOT NULL,
	mark      BLOB NOT NULL,
	PRIMARY KEY (sender, recipient)
) WITHOUT ROWID;
`, MustTable("gk_replay_marks", nil).CreateSQL())
	require.Equal(t, "pay_replay_marks", MustTable("pay_replay_marks", nil).Name())
}

func TestMustTableName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"gk_replay_marks", true},
		{"a", true},
		{"t2_marks_9", true},
		{"", false},
		{"_marks", false},
		{"9marks", false},
		{"Marks", false},
		{"gk-marks", false},
		{"gk marks", false},
		{"marks; DROP TABLE store_meta", false},
		{`"marks"`, false},
		{string(make([]byte, 65)), false},
		{"m" + string(bytesOf('a', 64)), false},
		{"m" + string(bytesOf('a', 63)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ok {
				require.NotPanics(t, func() { MustTable(tc.name, nil) })
				return
			}
			require.Panics(t, func() { MustTable(tc.name, nil) })
		})
	}
}

func bytesOf(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}

func TestInvalidArguments(t *testing.T) {
	st := openTest(t)
	for _, tc := range []struct {
		name   string
		st     *store.Store
		table  Table
		bootID []byte
	}{
		{"nil store", nil, testTable, bootA},
		{"zero table", st, Table{}, bootA},
		{"empty boot id", st, testTable, nil},
		{"boot id too long", st, testTable, make([]byte, MaxBootIDLen+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewStore(tc.st, tc.table, tc.bootID)
			require.ErrorIs(t, err, ErrInvalid)
			require.Nil(t, m)
			if tc.st == nil {
				return
			}
			_, err = load(t, st, tc.table, kmToGK, tc.bootID)
			require.ErrorIs(t, err, ErrInvalid)
			err = st.Tx(context.Background(), func(tx *store.Tx) error { return tc.table.Put(tx, kmToGK, tc.bootID, 1) })
			require.ErrorIs(t, err, ErrInvalid)
		})
	}
	_, err := NewStore(st, testTable, make([]byte, MaxBootIDLen))
	require.NoError(t, err)
}

func TestStoreRoundTrip(t *testing.T) {
	st := openTest(t)
	m := newStore(t, st, bootA)

	mark, err := m.LoadMark(kmToGK)
	require.NoError(t, err)
	require.Zero(t, mark, "no mark stored yet")

	require.NoError(t, m.StoreMark(kmToGK, 7))
	require.NoError(t, m.StoreMark(fpToPay, 1<<40))
	for _, tc := range []struct {
		r    tee.Route
		want uint64
	}{
		{kmToGK, 7},
		{fpToPay, 1 << 40},
		{tee.Route{From: tee.UUIDKeymaster, To: tee.UUIDFingerprint}, 0},
	} {
		mark, err := m.LoadMark(tc.r)
		require.NoError(t, err)
		require.Equal(t, tc.want, mark, tc.r.String())
	}

	require.NoError(t, m.StoreMark(kmToGK, ^uint64(0)))
	mark, err = m.LoadMark(kmToGK)
	require.NoError(t, err)
	require.Equal(t, ^uint64(0), mark)
}

// TestBootScope: a mark is valid only in the boot that wrote it, and the
// first mark of a new boot replaces the route's row.
func TestBootScope(t *testing.T) {
	st := openTest(t)
	a := newStore(t, st, bootA)
	require.NoError(t, a.StoreMark(kmToGK, 100))

	b := newStore(t, st, bootB)
	mark, err := b.LoadMark(kmToGK)
	require.NoError(t, err)
	require.Zero(t, mark, "a mark of another boot reads as 0")

	require.NoError(t, b.StoreMark(kmToGK, 3))
	mark, err = b.LoadMark(kmToGK)
	require.NoError(t, err)
	require.Equal(t, uint64(3), mark)
	mark, err = a.LoadMark(kmToGK)
	require.NoError(t, err)
	require.Zero(t, mark, "the route's row now belongs to boot B")
}

// TestSurvivesReopen: a replay guard over Store rejects, after a TA
// restart within the boot, an envelope accepted before it.
func TestSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ta.db")
	st, err := store.Open(path, testKey(), schemaOf(testTable))
	require.NoError(t, err)
	g := envelope.NewMarkGuard(newStore(t, st, bootA))
	require.NoError(t, g.Accept(kmToGK, 5))
	require.NoError(t, st.Close())

	g = envelope.NewMarkGuard(newStore(t, openAt(t, path, testTable), bootA))
	for _, seq := range []uint64{1, 5} {
		require.ErrorIs(t, g.Accept(kmToGK, seq), envelope.ErrReplay, "seq %d", seq)
	}
	require.NoError(t, g.Accept(kmToGK, 6))
}

// TestLegacyRows pins the stored format: a row written with the statements
// and sealing the TAs used before this package existed reads back.
func TestLegacyRows(t *testing.T) {
	gk := MustTable("gk_replay_marks", nil)
	st := openAt(t, filepath.Join(t.TempDir(), "gk.db"), gk)
	err := st.Tx(context.Background(), func(tx *store.Tx) error {
		id := store.Identity(store.Str("route"), store.TA(kmToGK.From), store.TA(kmToGK.To), store.Raw(bootA))
		sealed, err := tx.Seal("gk_replay_marks", id, binary.BigEndian.AppendUint64(nil, 42))
		if err != nil {
			return err
		}
		_, err = tx.Exec(`INSERT INTO gk_replay_marks(sender, recipient, boot_id, mark) VALUES (?, ?, ?, ?)`,
			kmToGK.From[:], kmToGK.To[:], bootA, sealed)
		return err
	})
	require.NoError(t, err)
	mark, err := load(t, st, gk, kmToGK, bootA)
	require.NoError(t, err)
	require.Equal(t, uint64(42), mark)
}

// TestMovedRow: a mark copied onto another route, or relabelled to another
// boot, does not open.
func TestMovedRow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(tx *store.Tx) error
		route  tee.Route
		bootID []byte
	}{
		{"onto another route", func(tx *store.Tx) error {
			_, err := tx.Exec(`UPDATE ta_replay_marks SET mark = (SELECT mark FROM ta_replay_marks WHERE recipient = ?) WHERE recipient = ?`,
				kmToGK.To[:], fpToPay.To[:])
			return err
		}, fpToPay, bootA},
		{"onto another boot", func(tx *store.Tx) error {
			_, err := tx.Exec(`UPDATE ta_replay_marks SET boot_id = ? WHERE recipient = ?`, bootB, kmToGK.To[:])
			return err
		}, kmToGK, bootB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openTest(t)
			m := newStore(t, st, bootA)
			require.NoError(t, m.StoreMark(kmToGK, 9))
			require.NoError(t, m.StoreMark(fpToPay, 2))
			require.NoError(t, st.Tx(context.Background(), tc.edit))
			_, err := load(t, st, testTable, tc.route, tc.bootID)
			require.ErrorIs(t, err, store.ErrSealedCorrupt)
		})
	}
}

// TestCorruptMark: an authentic mark that is not 8 bytes wraps the
// table's sentinel (the TA's own, or ErrCorrupt).
func TestCorruptMark(t *testing.T) {
	plain := MustTable("plain_marks", nil)
	st := openAt(t, filepath.Join(t.TempDir(), "ta.db"), testTable, plain)
	for _, tc := range []struct {
		table Table
		want  error
	}{
		{testTable, errTACorrupt},
		{plain, ErrCorrupt},
	} {
		t.Run(tc.table.Name(), func(t *testing.T) {
			err := st.Tx(context.Background(), func(tx *store.Tx) error {
				sealed, err := tx.Seal(tc.table.Name(), identity(kmToGK, bootA), make([]byte, 9))
				if err != nil {
					return err
				}
				_, err = tx.Exec(`INSERT INTO `+tc.table.Name()+`(sender, recipient, boot_id, mark) VALUES (?, ?, ?, ?)`,
					kmToGK.From[:], kmToGK.To[:], bootA, sealed)
				return err
			})
			require.NoError(t, err)
			_, err = load(t, st, tc.table, kmToGK, bootA)
			require.ErrorIs(t, err, tc.want)
			m, err := NewStore(st, tc.table, bootA)
			require.NoError(t, err)
			_, err = m.LoadMark(kmToGK)
			require.ErrorIs(t, err, tc.want)
		})
	}
}
