// Package policy is the payment server's n-factor policy (seed 003,
// "adaptive n-factor payment authentication"; docs/protocol.md §16): a
// small versioned line format that maps a customer tier, a currency and
// an amount to the set of factors a payment must carry — fingerprint
// (the TEE-signed statement), password (a Gatekeeper PASSWORD HAT the
// payment TA vouches for), otp (a GM/T 0021 SM3 or RFC 6238 one-time
// code) and shield (the SIM-sticker card's signature).
//
// The server decides (Decide) from its own order — never from what the
// device says (channel-server.md §9: "the tier or amount must be decided
// server-side") — and refuses a payment whose satisfied factors lack one
// of the required ones (Check, a *MissingError naming them).
//
// Parse is strict: every refusal is a *ParseError with the line and field
// and wraps one sentinel error of this package. The file, its lines and
// its rules are bounded (MaxFileSize, MaxLineLen, MaxRules).
package policy
