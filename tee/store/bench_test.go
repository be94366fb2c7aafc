package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"testing"

	"github.com/emmansun/gmsm/sm4"
	"github.com/stretchr/testify/require"
)

// BenchmarkSealUnseal256 is one Seal + Unseal of a 256-byte value.
func BenchmarkSealUnseal256(b *testing.B) {
	s, err := NewSealer(testKey())
	require.NoError(b, err)
	id := Identity(Str("group"), U32(1), Str("finger"), U32(2))
	pt := make([]byte, 256)
	b.ReportAllocs()
	b.SetBytes(256)
	for b.Loop() {
		sealed, err := s.Seal("templates", id, pt)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Unseal("templates", id, sealed); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAEAD256 compares the chosen SM4-GCM with AES-256-GCM on the
// same 256-byte seal+open, for the record of the cipher choice.
func BenchmarkAEAD256(b *testing.B) {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	sm, err := sm4.NewCipher(k[:16])
	require.NoError(b, err)
	ae, err := aes.NewCipher(k)
	require.NoError(b, err)
	for _, c := range []struct {
		name  string
		block cipher.Block
	}{{"sm4-gcm", sm}, {"aes-256-gcm", ae}} {
		b.Run(c.name, func(b *testing.B) {
			g, err := cipher.NewGCM(c.block)
			require.NoError(b, err)
			nonce := make([]byte, 12)
			pt := make([]byte, 256)
			ad := make([]byte, 40)
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			b.SetBytes(256)
			for b.Loop() {
				ct := g.Seal(buf[:0], nonce, pt, ad)
				if _, err := g.Open(pt[:0], nonce, ct, ad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTxSealedRow is one write transaction replacing one sealed
// 256-byte row (insert, digest update, re-seal state, commit, counter
// advance), on a database holding `rows` rows, under each durability
// (process: no fsync per commit; power: the WAL fsynced at each commit).
// Goal (issue 14): rows=100000 ≤ 1.2 × rows=10 under the same durability.
func BenchmarkTxSealedRow(b *testing.B) {
	schema := Schema{SQL("kv", `CREATE TABLE kv (id INTEGER PRIMARY KEY, sealed BLOB NOT NULL)`)}
	for _, dur := range []Durability{DurabilityProcess, DurabilityPower} {
		for _, bc := range []struct {
			name    string
			rows    int
			counter bool
		}{
			{"rows=10", 10, false},
			{"rows=10/counter", 10, true},
			{"rows=1000/counter", 1000, true},
			{"rows=100000", 100000, false},
			{"rows=100000/counter", 100000, true},
		} {
			b.Run(dur.String()+"/"+bc.name, func(b *testing.B) {
				opts := []Option{WithDurability(dur)}
				if bc.counter {
					c, err := OpenFileCounter(dbPath(b)+".ctr", testKey(), CounterDurability(dur))
					require.NoError(b, err)
					opts = append(opts, WithCounter(c))
				}
				s := openTest(b, dbPath(b), schema, opts...)
				ctx := context.Background()
				pt := make([]byte, 256)
				put := func(id int) error {
					return s.Tx(ctx, func(tx *Tx) error {
						return tx.PutSealed("kv", Identity(I64(int64(id))), pt,
							`INSERT OR REPLACE INTO kv(id, sealed) VALUES (?, ?)`, id)
					})
				}
				require.NoError(b, s.Tx(ctx, func(tx *Tx) error {
					for i := range bc.rows {
						if err := tx.PutSealed("kv", Identity(I64(int64(i))), pt,
							`INSERT INTO kv(id, sealed) VALUES (?, ?)`, i); err != nil {
							return err
						}
					}
					return nil
				}))
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if err := put(i % bc.rows); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}

// BenchmarkView is one read-only snapshot reading and unsealing one row.
func BenchmarkView(b *testing.B) {
	s := openTest(b, dbPath(b), ledgerSchema)
	ctx := context.Background()
	require.NoError(b, appendEntry(ctx, s, 1))
	b.ReportAllocs()
	for b.Loop() {
		err := s.View(ctx, func(tx *Tx) error {
			var sealed []byte
			if err := tx.QueryRow(`SELECT sealed FROM ledger WHERE seq = 1`).Scan(&sealed); err != nil {
				return err
			}
			_, err := tx.Unseal("ledger", ledgerID(1), sealed)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
