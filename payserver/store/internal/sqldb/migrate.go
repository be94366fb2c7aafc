package sqldb

import (
	"context"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/payserver/store"
)

// migration is one schema version: statements run in one transaction
// with the schema_version row that records it.
type migration struct {
	version int
	name    string
	stmts   []string
}

// Times are Unix milliseconds (BIGINT) and 64-bit unsigned values
// (challenges, counters, authenticator ids) are stored bit-cast to
// BIGINT, so both databases hold the same values; the engine compares
// counters as unsigned in Go, never in SQL.
var migrations = []migration{{
	version: 1,
	name:    "devices, scene keys, orders, challenges, ledger, requests",
	stmts: []string{
		`CREATE TABLE devices (
	device_id  {{blob}} PRIMARY KEY,
	public_key {{blob}} NOT NULL,
	cert       {{blob}} NOT NULL,
	created_ms BIGINT NOT NULL,
	revoked_ms BIGINT
)`,
		`CREATE TABLE scene_keys (
	device_id        {{blob}} NOT NULL REFERENCES devices(device_id),
	app_id           TEXT NOT NULL,
	scene            TEXT NOT NULL,
	public_key       {{blob}} NOT NULL,
	serial           BIGINT NOT NULL,
	group_id         BIGINT NOT NULL,
	authenticator_id BIGINT NOT NULL,
	finger_binding   {{blob}} NOT NULL,
	finger_ids       {{blob}} NOT NULL,
	app_cert         {{blob}} NOT NULL,
	scene_cert       {{blob}} NOT NULL,
	counter          BIGINT NOT NULL,
	created_ms       BIGINT NOT NULL,
	revoked_ms       BIGINT,
	PRIMARY KEY (device_id, app_id, scene)
)`,
		`CREATE TABLE orders (
	order_id   TEXT PRIMARY KEY,
	payee      TEXT NOT NULL,
	idem_key   TEXT NOT NULL,
	amount     BIGINT NOT NULL CHECK (amount > 0),
	currency   TEXT NOT NULL,
	summary    TEXT NOT NULL,
	status     TEXT NOT NULL CHECK (status IN ('open', 'paid')),
	attempts   INTEGER NOT NULL,
	entry_id   BIGINT,
	created_ms BIGINT NOT NULL,
	UNIQUE (payee, idem_key)
)`,
		`CREATE TABLE challenges (
	value      BIGINT PRIMARY KEY CHECK (value <> 0),
	order_id   TEXT NOT NULL REFERENCES orders(order_id),
	attempt    INTEGER NOT NULL,
	device_id  {{blob}} NOT NULL,
	amount     BIGINT NOT NULL,
	currency   TEXT NOT NULL,
	payee      TEXT NOT NULL,
	issued_ms  BIGINT NOT NULL,
	expires_ms BIGINT NOT NULL,
	used_ms    BIGINT,
	UNIQUE (order_id, attempt)
)`,
		`CREATE INDEX challenges_expires ON challenges (expires_ms)`,
		`CREATE TABLE ledger (
	entry_id       {{serial}},
	order_id       TEXT NOT NULL UNIQUE REFERENCES orders(order_id),
	challenge      BIGINT NOT NULL,
	device_id      {{blob}} NOT NULL,
	app_id         TEXT NOT NULL,
	scene          TEXT NOT NULL,
	counter        BIGINT NOT NULL,
	finger_id      BIGINT NOT NULL,
	amount         BIGINT NOT NULL,
	currency       TEXT NOT NULL,
	payee          TEXT NOT NULL,
	statement_hash {{blob}} NOT NULL,
	request_id     {{blob}} NOT NULL,
	booked_ms      BIGINT NOT NULL
)`,
		`CREATE INDEX ledger_challenge ON ledger (challenge)`,
		`CREATE TABLE requests (
	request_id     {{blob}} PRIMARY KEY,
	entry_id       BIGINT NOT NULL REFERENCES ledger(entry_id),
	statement_hash {{blob}} NOT NULL,
	created_ms     BIGINT NOT NULL
)`,
		`CREATE INDEX requests_created ON requests (created_ms)`,
	},
}, {
	version: 2,
	name:    "OTP seeds and last accepted steps",
	// last_step is NULL until a code is accepted; steps are < 2^63
	// (store.MaxOTPStep), so unlike counters they compare in SQL.
	stmts: []string{
		`CREATE TABLE otp_seeds (
	device_id  {{blob}} NOT NULL REFERENCES devices(device_id),
	app_id     TEXT NOT NULL,
	algorithm  TEXT NOT NULL,
	digits     INTEGER NOT NULL CHECK (digits BETWEEN 6 AND 8),
	period_s   INTEGER NOT NULL CHECK (period_s BETWEEN 1 AND 60),
	epoch_s    BIGINT NOT NULL CHECK (epoch_s >= 0),
	sealed     {{blob}} NOT NULL,
	last_step  BIGINT CHECK (last_step >= 0),
	created_ms BIGINT NOT NULL,
	PRIMARY KEY (device_id, app_id)
)`,
	},
}, {
	// Self-contained (one table, no change to another): if another
	// migration lands with the same number, renumbering either is the
	// whole merge.
	version: 3,
	name:    "customer tiers",
	stmts: []string{
		`CREATE TABLE customer_tiers (
	device_id  {{blob}} PRIMARY KEY REFERENCES devices(device_id),
	tier       TEXT NOT NULL,
	updated_ms BIGINT NOT NULL
)`,
	},
}}

// addMigration adds a migration defined in its own file (from its
// init), keeping the list in version order whatever order the files'
// inits run in.
func addMigration(m migration) {
	migrations = append(migrations, m)
	slices.SortFunc(migrations, func(a, b migration) int { return a.version - b.version })
}

// SchemaVersion is the newest schema version this build knows.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// migrate brings the schema to SchemaVersion in one transaction per
// migration, recording each in schema_version; a database newer than
// this build is store.ErrSchemaTooNew.
func (e *Engine) migrate(ctx context.Context) error {
	return e.db.Tx(ctx, func(q Q) error {
		if e.d.LockMigrations != "" {
			if _, err := q.Exec(ctx, e.d.LockMigrations); err != nil {
				return fmt.Errorf("store: lock migrations: %w", err)
			}
		}
		if _, err := q.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_ms BIGINT NOT NULL
)`); err != nil {
			return fmt.Errorf("store: schema_version: %w", err)
		}
		var have int64
		if err := q.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&have); err != nil {
			return fmt.Errorf("store: schema_version: %w", err)
		}
		if have > int64(SchemaVersion()) {
			return fmt.Errorf("%w: version %d, this build knows %d", store.ErrSchemaTooNew, have, SchemaVersion())
		}
		for _, m := range migrations {
			if int64(m.version) <= have {
				continue
			}
			for _, s := range m.stmts {
				if _, err := q.Exec(ctx, e.d.expand(s)); err != nil {
					return fmt.Errorf("store: migration %d (%s): %w", m.version, m.name, err)
				}
			}
			if _, err := q.Exec(ctx, `INSERT INTO schema_version (version, name, applied_ms) VALUES ($1, $2, $3)`,
				m.version, m.name, ms(e.o.Now())); err != nil {
				return fmt.Errorf("store: migration %d: %w", m.version, err)
			}
			e.log.Info("migrated", zap.Int("version", m.version), zap.String("name", m.name))
		}
		return nil
	})
}
