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

// msetSum is a keyed multiset hash in progress: the sum modulo 2^256 of
// row hashes and the number of rows (see stateDigest).
type msetSum struct {
	acc  [4]uint64 // little-endian limbs of the 256-bit sum
	rows uint64
}

// add adds the 32-byte big-endian row hash h to the sum modulo 2^256.
func (m *msetSum) add(h []byte) {
	var carry uint64
	for i := range 4 {
		limb := binary.BigEndian.Uint64(h[32-8*(i+1):])
		m.acc[i], carry = bits.Add64(m.acc[i], limb, carry)
	}
	m.rows++
}

// sub subtracts the row hash h modulo 2^256: the inverse of add.
func (m *msetSum) sub(h []byte) {
	var borrow uint64
	for i := range 4 {
		limb := binary.BigEndian.Uint64(h[32-8*(i+1):])
		m.acc[i], borrow = bits.Sub64(m.acc[i], limb, borrow)
	}
	m.rows--
}

// plus returns the multiset union m + o.
func (m msetSum) plus(o msetSum) msetSum {
	var carry uint64
	for i := range 4 {
		m.acc[i], carry = bits.Add64(m.acc[i], o.acc[i], carry)
	}
	m.rows += o.rows
	return m
}

// finish returns the digest HMAC-SHA256(k, 0x02 ‖ sum ‖ u64be(rows)).
func (m msetSum) finish(key []byte) [sha256.Size]byte {
	mac := hmac.New(sha256.New, key)
	var b [1 + 32 + 8]byte
	b[0] = 0x02
	for i := range 4 {
		binary.BigEndian.PutUint64(b[1+8*i:], m.acc[3-i])
	}
	binary.BigEndian.PutUint64(b[33:], m.rows)
	mac.Write(b[:])
	var out [sha256.Size]byte
	copy(out[:], mac.Sum(nil))
	return out
}

// rowHasher computes row hashes: HMAC-SHA256(k, 0x01 ‖ u16be(len(table)) ‖
// table ‖ u32be(ncols) ‖ for each column u32be(len) ‖ quote(value)).
type rowHasher struct {
	mac hash.Hash
	buf []byte
	sum []byte
}

func newRowHasher(key []byte) *rowHasher { return &rowHasher{mac: hmac.New(sha256.New, key)} }

// hash returns the row hash; the result is valid until the next call.
func (r *rowHasher) hash(table string, vals [][]byte) []byte {
	b := r.buf[:0]
	b = append(b, 0x01)
	b = binary.BigEndian.AppendUint16(b, uint16(len(table)))
	b = append(b, table...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(vals)))
	for _, v := range vals {
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	r.buf = b
	r.mac.Reset()
	r.mac.Write(b)
	r.sum = r.mac.Sum(r.sum[:0])
	return r.sum
}

// seqTable is SQLite's AUTOINCREMENT bookkeeping table. It takes no
// triggers, so the incremental digest re-reads it (one row per
// AUTOINCREMENT table) at every commit instead.
const seqTable = "sqlite_sequence"

// tableInfo is one digested table and its columns, as the full scan reads
// them and the digest triggers (incremental.go) quote them.
type tableInfo struct {
	name string
	cols []string
}

// fullDigest is the result of a scan of the whole database: the multiset
// sums of everything but sqlite_sequence (main) and of sqlite_sequence
// (seq), the digested tables, and whether the database holds a virtual
// table (whose module writes its shadow tables outside the triggers, so
// the store then digests every commit in full).
type fullDigest struct {
	main, seq msetSum
	hasSeq    bool
	virtual   bool
	tables    []tableInfo
}

func (f *fullDigest) digest(key []byte) [sha256.Size]byte { return f.main.plus(f.seq).finish(key) }

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
// Its cost is linear in the size of the database; it runs at Open, Verify
// and after schema changes. An ordinary commit updates the sum
// incrementally instead (incremental.go): the same digest, at a cost
// independent of the database size.
func stateDigest(ctx context.Context, q queryer, key []byte) ([sha256.Size]byte, error) {
	f, err := scanDigest(ctx, q, key)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return f.digest(key), nil
}

// scanDigest reads the whole database and returns its multiset sums.
func scanDigest(ctx context.Context, q queryer, key []byte) (*fullDigest, error) {
	f := &fullDigest{}
	h := newRowHasher(key)
	if err := scanTable(ctx, q, h, &f.main, "sqlite_schema",
		`SELECT quote(type), quote(name), quote(tbl_name), quote(sql) FROM sqlite_schema`, 4); err != nil {
		return nil, err
	}
	var err error
	if f.virtual, err = hasVirtualTable(ctx, q); err != nil {
		return nil, err
	}
	tables, err := listTables(ctx, q)
	if err != nil {
		return nil, err
	}
	for _, t := range tables {
		cols, err := listColumns(ctx, q, t)
		if err != nil {
			return nil, err
		}
		sum := &f.main
		if t == seqTable {
			sum, f.hasSeq = &f.seq, true
		} else {
			f.tables = append(f.tables, tableInfo{name: t, cols: cols})
		}
		if err := scanTable(ctx, q, h, sum, t, selectQuoted(t, cols), len(cols)); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// selectQuoted is the full scan's query of table t.
func selectQuoted(t string, cols []string) string {
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = "quote(" + quoteIdent(c) + ")"
	}
	query := "SELECT " + strings.Join(quoted, ", ") + " FROM main." + quoteIdent(t)
	if t == metaTable {
		query += " WHERE key <> '" + stateKey + "'"
	}
	return query
}

// scanSeq returns the multiset sum of sqlite_sequence.
func scanSeq(ctx context.Context, q queryer, key []byte) (msetSum, error) {
	var m msetSum
	err := scanTable(ctx, q, newRowHasher(key), &m, seqTable,
		selectQuoted(seqTable, []string{"name", "seq"}), 2)
	return m, err
}

func scanTable(ctx context.Context, q queryer, h *rowHasher, m *msetSum, name, query string, ncols int) error {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("store: digest %s: %w", name, err)
	}
	defer rows.Close()
	vals := make([][]byte, ncols)
	raw := make([]sql.RawBytes, ncols)
	ptrs := make([]any, ncols)
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("store: digest %s: %w", name, err)
		}
		for i, v := range raw {
			vals[i] = v
		}
		m.add(h.hash(name, vals))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: digest %s: %w", name, err)
	}
	return nil
}

func hasVirtualTable(ctx context.Context, q queryer) (bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT 1 FROM sqlite_schema
		WHERE type = 'table' AND coalesce(sql, '') LIKE 'CREATE VIRTUAL TABLE%' LIMIT 1`)
	if err != nil {
		return false, fmt.Errorf("store: list tables: %w", err)
	}
	defer rows.Close()
	found := rows.Next()
	return found, rows.Err()
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
	rows, err := q.QueryContext(ctx, `SELECT name FROM pragma_table_info(?, 'main') ORDER BY cid`, table)
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
