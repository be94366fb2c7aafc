package policy

import _ "embed" // the example policy file

// Seed003Example is the example policy shipped in
// testdata/seed003.policy (docs/protocol.md §16.2): tier standard, CNY —
// fingerprint up to 500.00, + password up to 5 000.00, + otp above; the
// same shape in USD; tier platinum with two factors from the first fen,
// otp above 5 000.00 and shield above 50 000.00. `fpemu demo` runs its
// server with it.
//
//go:embed testdata/seed003.policy
var Seed003Example []byte
