package store

import "fmt"

// Migration is one schema step: exactly one of SQL (one or more statements,
// executed as a script) or Func. Steps are applied in order, each in its own
// write transaction together with the new schema version, so a step is
// either fully applied and recorded or not at all.
type Migration struct {
	// Name identifies the step in logs and in the meta table. It must be
	// non-empty and must never change once released: Open compares the
	// recorded names of applied steps with the code's (ErrSchemaMismatch).
	Name string
	// SQL is executed with Tx.Exec.
	SQL string
	// Func runs arbitrary Go inside the step's transaction (data moves,
	// re-sealing rows).
	Func func(tx *Tx) error
}

// Schema is the ordered list of migration steps of one TA's database. Its
// version is len(Schema): a database at version v has had steps [0, v)
// applied. Steps are append-only: never edit, reorder or remove one that
// has shipped.
type Schema []Migration

// Version returns the schema version the code knows.
func (s Schema) Version() int { return len(s) }

// SQL returns a Migration running one SQL script.
func SQL(name, script string) Migration { return Migration{Name: name, SQL: script} }

// Func returns a Migration running fn.
func Func(name string, fn func(tx *Tx) error) Migration { return Migration{Name: name, Func: fn} }

func (s Schema) validate() error {
	seen := make(map[string]int, len(s))
	for i, m := range s {
		switch {
		case m.Name == "":
			return invalidf("migration %d has no name", i)
		case len(m.Name) > 200:
			return invalidf("migration %d name is %d bytes, max 200", i, len(m.Name))
		case (m.SQL == "") == (m.Func == nil):
			return invalidf("migration %d (%s) must have exactly one of SQL or Func", i, m.Name)
		}
		if j, dup := seen[m.Name]; dup {
			return invalidf("migrations %d and %d share the name %q", j, i, m.Name)
		}
		seen[m.Name] = i
	}
	return nil
}

// migrationKey is the store_meta key recording the name of applied step i.
func migrationKey(i int) string { return fmt.Sprintf("migration.%04d", i) }
