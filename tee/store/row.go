package store

import (
	"database/sql"
	"errors"
	"fmt"
)

// LoadSealed runs query, which selects one sealed value (one row, one
// column), with args and opens that value as a value of table with the
// row's identity. found is false, with no error, when the query returns no
// row. A failed query or a value that does not open is an error naming
// table and wrapping the cause (for a value that does not open, the error
// of Unseal).
func (t *Tx) LoadSealed(table string, identity []byte, query string, args ...any) (plaintext []byte, found bool, err error) {
	var sealed []byte
	err = t.QueryRow(query, args...).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: load %s row: %w", table, err)
	}
	plaintext, err = t.Unseal(table, identity, sealed)
	if err != nil {
		return nil, false, fmt.Errorf("store: %s row: %w", table, err)
	}
	return plaintext, true, nil
}

// PutSealed seals plaintext as a value of table with the row's identity
// and runs stmt (typically an INSERT … ON CONFLICT DO UPDATE) with args
// followed by the sealed bytes: the sealed value is stmt's last parameter.
// A failed statement is an error naming table and wrapping the cause.
func (t *Tx) PutSealed(table string, identity, plaintext []byte, stmt string, args ...any) error {
	sealed, err := t.Seal(table, identity, plaintext)
	if err != nil {
		return err
	}
	if _, err := t.Exec(stmt, append(args, sealed)...); err != nil {
		return fmt.Errorf("store: store %s row: %w", table, err)
	}
	return nil
}
