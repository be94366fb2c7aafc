package store

// U32Table returns the CREATE TABLE statement, ending in ";\n", of a table
// of one sealed value per 32-bit unsigned id — the shape of most TA tables
// (a user's password handle, a group's authenticator id or lockout state,
// a group's finger list):
//
//	CREATE TABLE name (
//		key   INTEGER PRIMARY KEY NOT NULL CHECK (key >= 0 AND key <= 4294967295),
//		value BLOB NOT NULL
//	);
//
// name, key and value are constants of the TA's code, spliced into SQL.
func U32Table(name, key, value string) string {
	return "CREATE TABLE " + name + " (\n\t" +
		key + " INTEGER PRIMARY KEY NOT NULL CHECK (" + key + " >= 0 AND " + key + " <= 4294967295),\n\t" +
		value + " BLOB NOT NULL\n);\n"
}
