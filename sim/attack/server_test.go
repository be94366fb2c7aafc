package attack

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestServerRows runs the srv-* rows against server processes: each
// defence holds with its control booked, and nothing is left bound.
func TestServerRows(t *testing.T) {
	requireRowsRejected(t, "^srv-", 8)
}

// TestServerCanaries: every srv-* row says NOT REJECTED, naming the probe
// that got through, against a server child without its defence — a store
// that takes any counter (counterBlind), a store that keeps no booking
// state (forgetfulLedger), or a server that skips one stateless check
// through payserver/canary. TestServerRows runs the same rows against
// the real server.
func TestServerCanaries(t *testing.T) {
	for _, tc := range []struct {
		name, run, weakening string
		finding              string // a regular expression one finding matches
	}{
		{"store takes any counter", "^srv-counter-rollback$", "counter",
			"the older statement after the newer one: booked"},
		{"store without single booking: replay", "^srv-replay$", "no-single-booking",
			`replay 1: booked again(.|\n)*the order has 3 ledger rows`},
		{"store without single booking: used challenge", "^srv-challenge-reuse$", "no-single-booking",
			"fresh statement, same order, used challenge: booked(.|\n)*fresh statement, other order, used challenge: booked"},
		{"store without single booking: two servers", "^srv-double-spend$", "no-single-booking",
			`round 1: both servers booked the order(.|\n)*round 1: 2 ledger rows`},
		{"server without the payload binding: other order", "^srv-other-order$", "no-binding",
			"small order's statement for the large order: booked"},
		{"server without the payload binding: edited summary", "^srv-tamper$", "no-binding",
			"amount 5000 shown and signed as 1: booked"},
		{"server without the statement signature check", "^srv-tamper$", "no-signature",
			`statement counter edited \(\+2\^20\), the TA's signature kept: booked`},
		{"server that takes the named device for the peer", "^srv-cross-device$", "no-identity",
			"victim's registration chain from the attacker's phone: registered(.|\n)*victim's statement from the attacker's phone: booked"},
		{"server that takes any device key for a root", "^srv-unattested$", "no-roots",
			"the forged chain from a phone whose channel names its device: registered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, findings := runCanary(t, tc.run, func(c *Config) { c.ServerCommand = serverCmd(tc.weakening) }, NotRejected)
			assert.Regexp(t, tc.finding, findings)
		})
	}
}
