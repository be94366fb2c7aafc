package attack

import "testing"

// TestServerRows runs the srv-* rows against server processes: each
// defence holds with its control booked, and nothing is left bound.
func TestServerRows(t *testing.T) {
	requireRowsRejected(t, "^srv-", 8)
}

// TestServerCanaries: with a server whose store skips the counter rule,
// srv-counter-rollback must say NOT REJECTED.
func TestServerCanaries(t *testing.T) {
	runCanary(t, "^srv-counter-rollback$", func(c *Config) { c.ServerCommand = serverCmd("counter") }, NotRejected)
}
