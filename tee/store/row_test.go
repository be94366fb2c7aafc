package store

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

var rowSchema = Schema{SQL("create kv", U32Table("kv", "k", "value"))}

func kvID(k int64) []byte { return Identity(Str("k"), I64(k)) }

const (
	kvSelect = `SELECT value FROM kv WHERE k = ?`
	kvPut    = `INSERT INTO kv(k, value) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET value = excluded.value`
)

func TestLoadAndPutSealed(t *testing.T) {
	s := openTest(t, dbPath(t), rowSchema)
	ctx := context.Background()
	require.NoError(t, s.Tx(ctx, func(tx *Tx) error {
		if err := tx.PutSealed("kv", kvID(1), []byte("one"), kvPut, int64(1)); err != nil {
			return err
		}
		return tx.PutSealed("kv", kvID(1), []byte("uno"), kvPut, int64(1))
	}))
	// A value sealed for row 2 but stored in row 3 does not open there.
	require.NoError(t, s.Tx(ctx, func(tx *Tx) error {
		return tx.PutSealed("kv", kvID(2), []byte("two"), kvPut, int64(3))
	}))

	tests := []struct {
		name      string
		k         int64
		want      []byte
		wantFound bool
		wantErr   error
	}{
		{"stored, then replaced", 1, []byte("uno"), true, nil},
		{"no row", 9, nil, false, nil},
		{"moved row", 3, nil, false, ErrSealedCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, s.View(ctx, func(tx *Tx) error {
				got, found, err := tx.LoadSealed("kv", kvID(tc.k), kvSelect, tc.k)
				if tc.wantErr != nil {
					require.ErrorIs(t, err, tc.wantErr)
				} else {
					require.NoError(t, err)
				}
				require.Equal(t, tc.wantFound, found)
				require.Equal(t, tc.want, got)
				return nil
			}))
		})
	}
}

func TestSealedRowStatementErrors(t *testing.T) {
	s := openTest(t, dbPath(t), rowSchema)
	err := s.View(context.Background(), func(tx *Tx) error {
		_, _, err := tx.LoadSealed("kv", kvID(1), `SELECT value FROM missing WHERE k = ?`, int64(1))
		return err
	})
	require.ErrorContains(t, err, "load kv row")
	err = s.Tx(context.Background(), func(tx *Tx) error {
		return tx.PutSealed("kv", kvID(1), []byte("x"), `INSERT INTO missing(k, value) VALUES (?, ?)`, int64(1))
	})
	require.ErrorContains(t, err, "store kv row")
}

func TestU32TableKeyRange(t *testing.T) {
	s := openTest(t, dbPath(t), rowSchema)
	for _, tc := range []struct {
		k  int64
		ok bool
	}{{0, true}, {1<<32 - 1, true}, {-1, false}, {1 << 32, false}} {
		err := s.Tx(context.Background(), func(tx *Tx) error {
			_, err := tx.Exec(`INSERT INTO kv(k, value) VALUES (?, x'00')`, tc.k)
			return err
		})
		if tc.ok {
			require.NoError(t, err, "key %d", tc.k)
		} else {
			require.Error(t, err, "key %d", tc.k)
		}
	}
}
