// Package marks keeps a recipient TA's envelope replay high-water marks
// (tee/envelope.MarkStore) in a table of its sealed store (tee/store),
// scoped to the current boot.
//
// Every TA that opens envelopes — Gatekeeper, the fingerprint TA and the
// payment TA — must reject a replayed envelope even after it restarts
// within a boot (docs/protocol.md §4.4), so it persists, per route, the
// highest sequence number it has accepted. Pairwise keys and sender
// sequence numbers restart at every boot, so a mark is only valid in the
// boot that wrote it: a row written in another boot reads as mark 0.
//
// # Table
//
// Each TA owns one table, created by its own schema (Table.CreateSQL goes
// into the TA's migration script, so databases created before this package
// existed keep their table and open unchanged):
//
//	CREATE TABLE <name> (
//		sender    BLOB NOT NULL,    -- sender TA UUID (16 bytes)
//		recipient BLOB NOT NULL,    -- recipient TA UUID (16 bytes)
//		boot_id   BLOB NOT NULL,    -- the boot the mark belongs to (1..64 bytes)
//		mark      BLOB NOT NULL,    -- sealed u64 big-endian sequence number
//		PRIMARY KEY (sender, recipient)
//	) WITHOUT ROWID;
//
// The mark is sealed (tee/store SM4-GCM) under the table name as label and
// the identity
//
//	Str("route") ‖ TA(sender) ‖ TA(recipient) ‖ Raw(boot_id)
//
// so a mark copied onto another route or another boot does not open.
//
// # Use
//
// A TA whose replay check and mark write are one step uses Store, an
// envelope.MarkStore for envelope.NewMarkGuard (each LoadMark and StoreMark
// its own store transaction). A TA that must commit the mark in the same
// transaction as the message's effect (the payment TA) calls Table.Load
// and Table.Put inside its own transactions.
package marks
