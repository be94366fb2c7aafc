package sqldb

// Migration 5: each ledger row keeps the n-factor decision it was booked
// under (store.Booking.Decision; docs/protocol.md §16.4), so that a
// replayed request is answered with the decision of its first booking.
// Rows booked before it, and payments under no policy, have the zero
// decision. Self-contained: renumbering it is the whole merge if another
// migration lands with the same number.
func init() {
	addMigration(migration{
		version: 5,
		name:    "ledger decisions",
		stmts: []string{
			`ALTER TABLE ledger ADD COLUMN tier TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE ledger ADD COLUMN required INTEGER NOT NULL DEFAULT 0`,
			`ALTER TABLE ledger ADD COLUMN satisfied INTEGER NOT NULL DEFAULT 0`,
		},
	})
}
