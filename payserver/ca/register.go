package ca

import (
	"context"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"time"

	"github.com/emmansun/gmsm/smx509"
	_ "github.com/mattn/go-sqlite3" // the register's SQLite driver
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/tee/devdir"
)

// registerVersion is the schema version in PRAGMA user_version.
const registerVersion = 1

const schema = `
CREATE TABLE IF NOT EXISTS certs (
	serial      TEXT PRIMARY KEY,          -- FormatSerial
	subject     TEXT NOT NULL,             -- RFC 2253 string, for people
	profile     TEXT NOT NULL,             -- device | server
	usage       TEXT NOT NULL,             -- sign | enc
	pair        TEXT,                      -- the other half of a dual pair
	not_before  INTEGER NOT NULL,          -- Unix seconds
	not_after   INTEGER NOT NULL,
	issued_at   INTEGER NOT NULL,
	csr_sha256  BLOB NOT NULL UNIQUE,      -- duplicate requests
	spki_sha256 BLOB NOT NULL UNIQUE,      -- one certificate per key
	der         BLOB NOT NULL,
	revoked_at  INTEGER,
	reason      INTEGER
);
CREATE TABLE IF NOT EXISTS crl (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	number INTEGER NOT NULL               -- last CRL number issued
);
INSERT OR IGNORE INTO crl (id, number) VALUES (1, 0);
`

// openRegister opens (creating its tables) the register in dir. SQLite
// opens files by name, so each of its files is checked first
// (devdir.CheckFile: no planted link, the owner's, one link).
func openRegister(dir string) (*sql.DB, error) {
	path := filepath.Join(dir, RegisterFile)
	for _, s := range []string{"", "-wal", "-shm", "-journal"} {
		if err := devdir.CheckFile(path + s); err != nil {
			return nil, err
		}
	}
	// _txlock=immediate: every transaction takes the write lock at BEGIN,
	// so the checks of Issue and Revoke and their writes are atomic also
	// across processes sharing the directory.
	db, err := sql.Open("sqlite3", "file:"+path+"?_txlock=immediate&_busy_timeout=10000&_journal_mode=WAL&_synchronous=FULL")
	if err != nil {
		return nil, fmt.Errorf("ca: register: %w", err)
	}
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: register: %v", ErrCorrupt, err)
	}
	switch v {
	case 0:
		if _, err := db.Exec(schema + fmt.Sprintf("PRAGMA user_version = %d;", registerVersion)); err != nil {
			db.Close()
			return nil, fmt.Errorf("ca: register schema: %w", err)
		}
	case registerVersion:
	default:
		db.Close()
		return nil, fmt.Errorf("%w: register version %d, this fpemu knows %d", ErrCorrupt, v, registerVersion)
	}
	return db, nil
}

// Status of a register row.
const (
	StatusValid   = "valid"
	StatusRevoked = "revoked"
	StatusExpired = "expired"
)

// Record is one certificate in the register.
type Record struct {
	Serial    string    `json:"serial"`
	Subject   string    `json:"subject"`
	Profile   Profile   `json:"profile"`
	Usage     Usage     `json:"usage"`
	Pair      string    `json:"pair,omitempty"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	IssuedAt  time.Time `json:"issued_at"`
	Status    string    `json:"status"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Reason    string    `json:"reason,omitempty"`
	// DER is the certificate.
	DER []byte `json:"-"`
}

// Certificate parses the record's certificate.
func (r Record) Certificate() (*smx509.Certificate, error) { return smx509.ParseCertificate(r.DER) }

// PEM returns the record's certificate as PEM.
func (r Record) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.DER})
}

const recordCols = `serial, subject, profile, usage, pair, not_before, not_after, issued_at, der, revoked_at, reason`

func scanRecord(row interface{ Scan(...any) error }, now time.Time) (Record, error) {
	var (
		r                 Record
		pair              sql.NullString
		nb, na, ia        int64
		revokedAt, reason sql.NullInt64
	)
	if err := row.Scan(&r.Serial, &r.Subject, &r.Profile, &r.Usage, &pair, &nb, &na, &ia, &r.DER, &revokedAt, &reason); err != nil {
		return r, err
	}
	r.Pair = pair.String
	r.NotBefore, r.NotAfter, r.IssuedAt = time.Unix(nb, 0).UTC(), time.Unix(na, 0).UTC(), time.Unix(ia, 0).UTC()
	switch {
	case revokedAt.Valid:
		r.Status = StatusRevoked
		r.RevokedAt = time.Unix(revokedAt.Int64, 0).UTC()
		r.Reason = ReasonName(int(reason.Int64))
	case now.After(r.NotAfter):
		r.Status = StatusExpired
	default:
		r.Status = StatusValid
	}
	return r, nil
}

// List returns every certificate in the register in issuing order (at
// most Options.MaxRows rows).
func (c *CA) List(ctx context.Context) ([]Record, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT `+recordCols+` FROM certs ORDER BY issued_at, rowid LIMIT ?`, c.opts.MaxRows)
	if err != nil {
		return nil, fmt.Errorf("ca: register: %w", err)
	}
	defer rows.Close()
	now := c.opts.Now()
	var out []Record
	for rows.Next() {
		r, err := scanRecord(rows, now)
		if err != nil {
			return nil, fmt.Errorf("ca: register: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ca: register: %w", err)
	}
	return out, nil
}

// Get returns the register's record of serial (ErrNotFound if none).
func (c *CA) Get(ctx context.Context, serial *big.Int) (Record, error) {
	r, err := scanRecord(c.db.QueryRowContext(ctx, `SELECT `+recordCols+` FROM certs WHERE serial = ?`, FormatSerial(serial)), c.opts.Now())
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, fmt.Errorf("%w: serial %s", ErrNotFound, FormatSerial(serial))
	}
	if err != nil {
		return Record{}, fmt.Errorf("ca: register: %w", err)
	}
	return r, nil
}

// Revocation reasons (RFC 5280 §5.3.1 CRLReason) the CA uses.
const (
	ReasonUnspecified          = 0
	ReasonKeyCompromise        = 1
	ReasonAffiliationChanged   = 3
	ReasonSuperseded           = 4
	ReasonCessationOfOperation = 5
	ReasonPrivilegeWithdrawn   = 9
)

var reasonNames = map[int]string{
	ReasonUnspecified: "unspecified", ReasonKeyCompromise: "keyCompromise",
	ReasonAffiliationChanged: "affiliationChanged", ReasonSuperseded: "superseded",
	ReasonCessationOfOperation: "cessationOfOperation", ReasonPrivilegeWithdrawn: "privilegeWithdrawn",
}

// ReasonName is RFC 5280's name of a reason code ("" if the CA does not use it).
func ReasonName(code int) string { return reasonNames[code] }

// ParseReason reads a reason by its RFC 5280 name (ErrReason otherwise).
func ParseReason(name string) (int, error) {
	for c, n := range reasonNames {
		if n == name {
			return c, nil
		}
	}
	return 0, fmt.Errorf("%w: %q (use one of unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn)", ErrReason, name)
}

// Revoke revokes the certificate with serial and, if it is half of a dual
// pair, the other half too (a device or server is one identity: GM/T 0034
// dual certificates are issued and revoked together). It returns the
// serials revoked. Refusals: ErrNotFound, ErrRevoked, ErrReason.
func (c *CA) Revoke(ctx context.Context, serial *big.Int, reason int) ([]*big.Int, error) {
	if ReasonName(reason) == "" {
		return nil, fmt.Errorf("%w: code %d", ErrReason, reason)
	}
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("ca: register: %w", err)
	}
	defer tx.Rollback()
	s := FormatSerial(serial)
	var (
		pair      sql.NullString
		revokedAt sql.NullInt64
	)
	err = tx.QueryRowContext(ctx, `SELECT pair, revoked_at FROM certs WHERE serial = ?`, s).Scan(&pair, &revokedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: serial %s", ErrNotFound, s)
	}
	if err != nil {
		return nil, fmt.Errorf("ca: register: %w", err)
	}
	if revokedAt.Valid {
		return nil, fmt.Errorf("%w: serial %s", ErrRevoked, s)
	}
	now := c.opts.Now().UTC().Unix()
	revoked := []*big.Int{serial}
	targets := []string{s}
	if pair.Valid {
		targets = append(targets, pair.String)
		p, _ := ParseSerial(pair.String)
		revoked = append(revoked, p)
	}
	for _, t := range targets {
		if _, err := tx.ExecContext(ctx, `UPDATE certs SET revoked_at = ?, reason = ? WHERE serial = ? AND revoked_at IS NULL`, now, reason, t); err != nil {
			return nil, fmt.Errorf("ca: register: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("ca: register: %w", err)
	}
	for _, t := range targets {
		c.opts.Logger.Info("revoked", zap.String("serial", t), zap.String("reason", ReasonName(reason)))
	}
	return revoked, nil
}

// CRL returns a DER X.509 v2 CRL (RFC 5280 §5; GM/T 0015-2012 Annex C
// table C.5) signed with the root key: every revoked certificate not yet
// expired, with its revocation date and reason, thisUpdate now, nextUpdate
// now + validity (DefaultCRLValidity if 0, at most MaxCRLValidity), an
// authorityKeyIdentifier and a cRLNumber one above the last one issued
// (RFC 5280 §5.2.3: monotonically increasing), kept in the register.
func (c *CA) CRL(ctx context.Context, validity time.Duration) ([]byte, error) {
	if validity == 0 {
		validity = DefaultCRLValidity
	}
	if validity < time.Hour || validity > MaxCRLValidity {
		return nil, fmt.Errorf("%w: CRL validity %v outside [1h, %v]", ErrValidity, validity, MaxCRLValidity)
	}
	now := c.opts.Now().UTC().Truncate(time.Second)
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("ca: register: %w", err)
	}
	defer tx.Rollback()
	var number int64
	if err := tx.QueryRowContext(ctx, `UPDATE crl SET number = number + 1 WHERE id = 1 RETURNING number`).Scan(&number); err != nil {
		return nil, fmt.Errorf("ca: register: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT serial, revoked_at, reason FROM certs
		WHERE revoked_at IS NOT NULL AND not_after >= ? ORDER BY revoked_at, serial LIMIT ?`, now.Unix(), c.opts.MaxRows)
	if err != nil {
		return nil, fmt.Errorf("ca: register: %w", err)
	}
	var entries []smx509.RevocationListEntry
	for rows.Next() {
		var (
			s      string
			at     int64
			reason int
		)
		if err := rows.Scan(&s, &at, &reason); err != nil {
			rows.Close()
			return nil, fmt.Errorf("ca: register: %w", err)
		}
		n, err := ParseSerial(s)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("%w: register serial %q", ErrCorrupt, s)
		}
		entries = append(entries, smx509.RevocationListEntry{SerialNumber: n, RevocationTime: time.Unix(at, 0).UTC(), ReasonCode: reason})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ca: register: %w", err)
	}
	der, err := smx509.CreateRevocationList(c.opts.Rand, &smx509.RevocationList{
		RevokedCertificateEntries: entries, Number: big.NewInt(number),
		ThisUpdate: now, NextUpdate: now.Add(validity),
	}, c.root, c.key)
	if err != nil {
		return nil, fmt.Errorf("ca: sign CRL: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("ca: register: %w", err)
	}
	c.opts.Logger.Info("CRL issued", zap.Int64("number", number), zap.Int("revoked", len(entries)))
	return der, nil
}

// EncodeCRL returns the PEM form of a DER CRL ("X509 CRL", RFC 7468 §6).
func EncodeCRL(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}
