package store

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMigrateFresh(t *testing.T) {
	s := openTest(t, dbPath(t), ledgerSchema)
	require.Equal(t, 2, s.Version())
	require.EqualValues(t, 3, s.Generation(), "init + two steps, one transaction each")
	err := s.View(context.Background(), func(tx *Tx) error {
		var v int
		require.NoError(t, tx.QueryRow(`SELECT value FROM store_meta WHERE key = 'schema_version'`).Scan(&v))
		require.Equal(t, 2, v)
		var name string
		require.NoError(t, tx.QueryRow(`SELECT value FROM store_meta WHERE key = 'migration.0001'`).Scan(&name))
		require.Equal(t, "create balance", name)
		return nil
	})
	require.NoError(t, err)
}

func TestMigrateUpgrade(t *testing.T) {
	p := dbPath(t)
	ctx := context.Background()
	s1, err := Open(p, testKey(), ledgerSchema)
	require.NoError(t, err)
	require.NoError(t, appendEntry(ctx, s1, 5))
	require.NoError(t, appendEntry(ctx, s1, 7))
	require.NoError(t, s1.Close())

	v3 := append(append(Schema{}, ledgerSchema...),
		SQL("ledger note column", `ALTER TABLE ledger ADD COLUMN note TEXT NOT NULL DEFAULT '';`),
		Func("backfill notes", func(tx *Tx) error {
			_, err := tx.Exec(`UPDATE ledger SET note = 'entry ' || seq`)
			return err
		}),
	)
	s2 := openTest(t, p, v3)
	require.Equal(t, 4, s2.Version())
	require.EqualValues(t, 2, checkLedger(t, s2), "data survives the upgrade")
	err = s2.View(ctx, func(tx *Tx) error {
		var note string
		require.NoError(t, tx.QueryRow(`SELECT note FROM ledger WHERE seq = 2`).Scan(&note))
		require.Equal(t, "entry 2", note)
		return nil
	})
	require.NoError(t, err)
}

func TestMigrateNewerThanCode(t *testing.T) {
	p := dbPath(t)
	s, err := Open(p, testKey(), ledgerSchema)
	require.NoError(t, err)
	require.NoError(t, appendEntry(context.Background(), s, 1))
	require.NoError(t, s.Close())
	before, err := os.ReadFile(p)
	require.NoError(t, err)

	_, err = Open(p, testKey(), ledgerSchema[:1])
	require.ErrorIs(t, err, ErrSchemaTooNew)
	var sv *SchemaVersionError
	require.True(t, errors.As(err, &sv))
	require.Equal(t, SchemaVersionError{Database: 2, Code: 1}, *sv)

	after, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, before, after, "never a downgrade: the file is untouched")
	s = openTest(t, p, ledgerSchema)
	require.EqualValues(t, 1, checkLedger(t, s))
}

func TestMigrateMismatch(t *testing.T) {
	p := dbPath(t)
	s, err := Open(p, testKey(), ledgerSchema)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	edited := Schema{ledgerSchema[0], SQL("create balance v2", ledgerSchema[1].SQL)}
	_, err = Open(p, testKey(), edited)
	require.ErrorIs(t, err, ErrSchemaMismatch)
}

func TestMigrateFailureRollsBack(t *testing.T) {
	p := dbPath(t)
	boom := errors.New("boom")
	bad := append(append(Schema{}, ledgerSchema...),
		Func("half done", func(tx *Tx) error {
			if _, err := tx.Exec(`CREATE TABLE half (x)`); err != nil {
				return err
			}
			return boom
		}))
	_, err := Open(p, testKey(), bad)
	require.ErrorIs(t, err, ErrMigration)
	require.ErrorIs(t, err, boom)
	var me *MigrationError
	require.True(t, errors.As(err, &me))
	require.Equal(t, 2, me.Step)
	require.Equal(t, "half done", me.Name)

	// The failed step left nothing: version 2, no table "half", and the
	// database still verifies.
	s := openTest(t, p, ledgerSchema)
	require.Equal(t, 2, s.Version())
	err = s.View(context.Background(), func(tx *Tx) error {
		var n int
		require.NoError(t, tx.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'half'`).Scan(&n))
		require.Zero(t, n)
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, s.Verify(context.Background()))

	t.Run("bad SQL", func(t *testing.T) {
		require.NoError(t, s.Close())
		_, err := Open(p, testKey(), append(append(Schema{}, ledgerSchema...), SQL("typo", `CRATE TABLE x (y)`)))
		require.ErrorIs(t, err, ErrMigration)
	})
}

func TestSchemaValidate(t *testing.T) {
	fn := func(*Tx) error { return nil }
	for _, tc := range []struct {
		name   string
		schema Schema
	}{
		{"no name", Schema{{SQL: "CREATE TABLE a (b)"}}},
		{"neither", Schema{{Name: "x"}}},
		{"both", Schema{{Name: "x", SQL: "CREATE TABLE a (b)", Func: fn}}},
		{"duplicate", Schema{SQL("x", "CREATE TABLE a (b)"), Func("x", fn)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := dbPath(t)
			_, err := Open(p, testKey(), tc.schema)
			require.ErrorIs(t, err, ErrInvalidArgument)
			_, statErr := os.Stat(p)
			require.ErrorIs(t, statErr, os.ErrNotExist, "rejected before touching the file")
		})
	}
	require.NoError(t, Schema(nil).validate())
	require.Equal(t, 2, ledgerSchema.Version())
}
