package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"hash"
	"math/bits"
	"strings"
)

// metaTable is the store's own table. Callers must not touch it (the
// writer connection's authorizer refuses their writes to it).
const metaTable = "store_meta"

// stateKey is the store_meta row holding the sealed state record.
const stateKey = "state"

// stateIdentity is the row identity the state record is sealed under.
var stateIdentity = Identity(Str(stateKey))

// State record, version 1 (41 bytes, sealed as table "store_meta", identity
// Identity(Str("state"))):
//
//	offset  size  field
//	0       1     version (0x01)
//	1       8     generation, u64 big-endian
//	9       32    state digest
const (
	stateVersion    = 0x01
	stateRecordSize = 1 + 8 + sha256.Size
)

type stateRecord struct {
	gen    uint64
	digest [sha256.Size]byte
}

func (r stateRecord) marshal() []byte {
	b := make([]byte, 0, stateRecordSize)
	b = append(b, stateVersion)
	b = binary.BigEndian.AppendUint64(b, r.gen)
	return append(b, r.digest[:]...)
}

func parseStateRecord(b []byte) (stateRecord, error) {
	if len(b) != stateRecordSize || b[0] != stateVersion {
		return stateRecord{}, fmt.Errorf("%w: state record of %d bytes", ErrTampered, len(b))
	}
	var r stateRecord
	r.gen = binary.BigEndian.Uint64(b[1:9])
	copy(r.digest[:], b[9:])
	return r, nil
}

// queryer is what the digest needs: a transaction's view of the database.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// stateDigest computes the digest of everything in the database except the
// state record itself: every sqlite_schema entry (type, name, tbl_name, sql)
// and every row of every ordinary table (store_meta, sqlite_sequence and
// the shadow tables of virtual tables included; sqlite_stat* excluded, as
// ANALYZE may rewrite them).
//
// Each row is hashed as HMAC-SHA256(k, 0x01 ‖ u16be(len(table)) ‖ table ‖
// u32be(ncols) ‖ for each column u32be(len) ‖ quote(value)), where quote is
// SQLite's quote() — a typed literal, so 1, '1' and X'31' differ. Row hashes
// are added modulo 2^256 (a keyed multiset hash, MSet-Add-Hash of Clarke et
// al., 2003), which makes the digest independent of row order (VACUUM may
// reorder) yet sensitive to any added, removed, changed or duplicated row.
// The digest is HMAC-SHA256(k, 0x02 ‖ sum ‖ u64be(row count)).
//
// Its cost is linear in the size of the database: the store is meant for
// the kilobytes of state a TA keeps.
func stateDigest(ctx context.Context, q queryer, key []byte) ([sha256.Size]byte, error) {
	d := &digester{mac: hmac.New(sha256.New, key)}
	var out [sha256.Size]byte

	if err := d.table(ctx, q, "sqlite_schema",
		`SELECT quote(type), quote(name), quote(tbl_name), quote(sql) FROM sqlite_schema`, 4); err != nil {
		return out, err
	}
	tables, err := listTables(ctx, q)
	if err != nil {
		return out, err
	}
	for _, t := range tables {
		cols, err := listColumns(ctx, q, t)
		if err != nil {
			return out, err
		}
		quoted := make([]string, len(cols))
		for i, c := range cols {
			quoted[i] = "quote(" + quoteIdent(c) + ")"
		}
		query := "SELECT " + strings.Join(quoted, ", ") + " FROM " + quoteIdent(t)
		if t == metaTable {
			query += " WHERE key <> '" + stateKey + "'"
		}
		if err := d.table(ctx, q, t, query, len(cols)); err != nil {
			return out, err
		}
	}
	d.mac.Reset()
	d.mac.Write([]byte{0x02})
	var sum [32]byte
	for i := range 4 {
		binary.BigEndian.PutUint64(sum[8*i:], d.acc[3-i])
	}
	d.mac.Write(sum[:])
	d.mac.Write(binary.BigEndian.AppendUint64(nil, d.rows))
	copy(out[:], d.mac.Sum(nil))
	return out, nil
}

type digester struct {
	mac  hash.Hash
	acc  [4]uint64 // little-endian limbs of the 256-bit sum
	rows uint64
	buf  []byte
}

func (d *digester) table(ctx context.Context, q queryer, name, query string, ncols int) error {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("store: digest %s: %w", name, err)
	}
	defer rows.Close()
	vals := make([]sql.RawBytes, ncols)
	ptrs := make([]any, ncols)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("store: digest %s: %w", name, err)
		}
		b := d.buf[:0]
		b = append(b, 0x01)
		b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
		b = append(b, name...)
		b = binary.BigEndian.AppendUint32(b, uint32(ncols))
		for _, v := range vals {
			b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
			b = append(b, v...)
		}
		d.buf = b
		d.mac.Reset()
		d.mac.Write(b)
		d.add(d.mac.Sum(nil))
		d.rows++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: digest %s: %w", name, err)
	}
	return nil
}

// add adds a 32-byte big-endian number to the accumulator modulo 2^256.
func (d *digester) add(h []byte) {
	var carry uint64
	for i := range 4 {
		limb := binary.BigEndian.Uint64(h[32-8*(i+1):])
		d.acc[i], carry = bits.Add64(d.acc[i], limb, carry)
	}
}

func listTables(ctx context.Context, q queryer) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_schema
		WHERE type = 'table'
		  AND name NOT LIKE 'sqlite\_stat%' ESCAPE '\'
		  AND coalesce(sql, '') NOT LIKE 'CREATE VIRTUAL TABLE%'
		ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list tables: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("store: list tables: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func listColumns(ctx context.Context, q queryer, table string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return nil, fmt.Errorf("store: columns of %s: %w", table, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("store: columns of %s: %w", table, err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: table %s has no columns", ErrTampered, table)
	}
	return out, nil
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
