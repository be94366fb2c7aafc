// Package store is the sealed SQLite store every fpemu TA keeps its
// persistent state in (docs/architecture.md rule 5): one database file per TA, rows
// that carry secrets sealed with the TA's storage key and bound to their
// identity, a versioned schema, one transaction per state change, and
// rollback detection against a monotonic counter that stands in for RPMB,
// the way OP-TEE protects its REE-FS secure storage.
//
// # Files
//
// A TA's database is one SQLite file (plus its -wal and -shm files while
// open) created 0600 in the TA's directory. Connections run with
// journal_mode=WAL, foreign_keys=ON, a busy timeout and synchronous per
// Durability: FULL for DurabilityPower (the default; a commit survives a
// power loss), NORMAL for DurabilityProcess (a commit survives a kill -9
// of the process — the WAL commit is atomic and in the page cache — but
// after an OS crash or power loss the monotonic counter, written after the
// commit, may be ahead of the durable database, and the store then refuses
// its own file as a rollback: it fails closed). The rollback counter lives
// in a separate file outside the TA's database directory (see
// FileCounter and "Rollback counter file" below), synced per
// CounterDurability.
//
// # Tables
//
// The caller's tables are created by its Schema. The store owns one more:
//
//	CREATE TABLE store_meta (key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID
//
//	key               value
//	format            1 (integer)
//	schema_version    number of migration steps applied (integer)
//	migration.NNNN    name of applied step NNNN (text, 4-digit 0-based index)
//	state             the sealed state record (blob, below)
//
// Callers' statements may not write, drop, alter or index store_meta (an
// SQLite authorizer on the writer connection refuses them).
//
// # Keys
//
// Every key is derived from the TA's storage key (≥ 16 bytes, provisioned
// by the launcher) with HKDF-SHA256 (RFC 5869, crypto/hkdf), empty salt, and
// a label as info:
//
//	"fpemu/tee/store/v1 seal key SM4-GCM"                     16 bytes, Sealer
//	"fpemu/tee/store/v1 state digest key HMAC-SHA256"          32 bytes, state digest
//	"fpemu/tee/store/v1 rpmb authentication key HMAC-SHA256"   32 bytes, FileCounter
//
// # Sealed values
//
// A sealed value is SM4-GCM (GB/T 32907-2016 SM4, NIST SP 800-38D GCM,
// 96-bit random nonce, 128-bit tag):
//
//	offset  size  field
//	0       1     format version 0x01
//	1       12    nonce
//	13      n     ciphertext (n = plaintext length, ≤ 16 MiB)
//	13+n    16    tag
//
// The associated data binds the blob to its place:
//
//	AD = 0x01 ‖ u16be(len(table)) ‖ table ‖ u32be(len(identity)) ‖ identity
//
// where table is the SQL table (or "table.column") and identity the row's
// canonical identity. A blob copied to another row or table, or with any
// byte flipped, does not open (ErrSealedCorrupt). Identity builds canonical
// identities from typed parts, each tag(1) ‖ u32be(len) ‖ value, with tags
// 0x01 text, 0x02 bytes, 0x03 unsigned (u64be), 0x04 signed (i64be),
// 0x05 TA UUID (16 bytes), so different part lists never collide.
//
// # State record and rollback protection
//
// Every write transaction (Store.Tx, a migration step, the initialisation
// of a fresh file) first verifies the database, then runs, then increments
// the generation and, in the same transaction, re-seals the state record
// (table "store_meta", identity Identity(Str("state"))):
//
//	0x01 ‖ u64be(generation) ‖ digest[32]
//
// The digest is a keyed multiset hash of the whole database — every
// sqlite_schema entry and every row of every table except the state record
// itself, each row as HMAC-SHA256 over its SQLite quote()d column values,
// summed modulo 2^256 (see stateDigest). A commit keeps the sum up to
// date incrementally, at a cost independent of the database's size; the
// whole database is scanned only at Open, Verify, after another
// connection's commit and after a schema change (see incremental.go). Sealing the generation together
// with the digest is what makes the generation trustworthy: a state record
// spliced from a newer copy into an older one does not match the older
// content.
//
// After commit the MonotonicCounter, if configured (WithCounter), is
// advanced to the new generation. Open then decides:
//
//	fresh file, counter = 0        initialise (generation 1)
//	state record does not open     ErrTampered + ErrSealedCorrupt (wrong key or edited)
//	digest mismatch                ErrTampered (edited outside the store)
//	generation <  counter          ErrRollback (an older copy, or an emptied file)
//	generation >= counter          OK; the counter catches up (crash between
//	                               commit and counter write)
//
// A process killed at any instant leaves the old or the new state: SQLite's
// WAL commit is atomic, and the counter write after it leaves the old or
// the new value (below).
//
// # Rollback counter file
//
// FileCounter's file (version 2, docs/protocol.md §6.6) is two 46-byte
// slots, A at offset 0 and B at offset 4096, each
//
//	"FPMC" ‖ 0x02 ‖ slot index (0x00/0x01) ‖ u64be(value) ‖ HMAC-SHA256(counter key, preceding 14 bytes)
//
// with zero bytes between them. A write is one pwrite of the slot not
// holding the current value, on a descriptor kept open (plus fdatasync
// under DurabilityPower); reading takes the highest valid slot. A torn
// write can only damage the slot being written — the other still holds
// the current value, and each slot has its own 4 KiB block — so it reads
// as the previous value, which Open accepts (a database ahead of its
// counter; the counter catches up). Both slots invalid is
// ErrCounterTampered. A version 1 file (one 45-byte record, "FPMC" ‖ 0x01
// ‖ u64be ‖ HMAC) is read and replaced atomically by a version 2 file on
// its first write.
//
// # Prepared statements
//
// The store's own per-commit statements, and callers' single-statement
// Exec calls in write transactions that cannot alter the schema, are
// prepared once on the writer connection and kept (stmt.go); SQLite
// re-prepares them, consulting the authorizer again, after any schema
// change.
//
// # What is checked when
//
// Sealed values are authenticated on every Unseal. The whole-database
// digest is checked at Open, on Store.Verify, and at the start of a write
// transaction whenever another connection has committed to the file since
// the last check (PRAGMA data_version) — so an edit made through SQLite
// while the TA runs is refused before the TA writes over it. It is not
// checked on each View (a full scan per read would dominate), and an edit
// of the raw file bytes that bypasses SQLite's locking while the TA runs is
// only caught at the next Open or Verify. Values whose integrity matters
// between writes should therefore be sealed.
package store
