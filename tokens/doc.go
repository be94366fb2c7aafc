// Package tokens implements the Android hardware authentication token
// (hw_auth_token_t, AOSP hardware/libhardware/include/hardware/hw_auth_token.h):
// the 69-byte record that Gatekeeper and the fingerprint TA mint after a
// successful password or fingerprint match, and that Keymaster/KeyMint and
// payment TAs check before they let an auth-bound key be used.
//
// The package has three separate layers, following docs/architecture.md rule 4:
//
//   - the codec (Token, Parse, Marshal, MarshalWithoutMAC): pure, strict
//     (exactly 69 bytes, nothing guessed), no I/O and no crypto;
//   - the MAC (MAC, NewMAC): HMAC-SHA256 with the 32-byte auth-token key over
//     the 37 bytes that precede the hmac field, as AOSP specifies, or HMAC-SM3
//     (GM/T 0004-2012) as an explicit option for GM/T deployments;
//   - the policy (Verifier): version, MAC, challenge, authenticator type,
//     secure IDs and freshness, one typed error per rule, each check citing
//     the AOSP rule it enforces.
//
// Byte layout (packed, 69 bytes):
//
//	offset size field               byte order
//	0      1    version (0)         -
//	1      8    challenge           host order (little-endian on every Android ABI)
//	9      8    user_id             host order (little-endian)
//	17     8    authenticator_id    host order (little-endian)
//	25     4    authenticator_type  network order (big-endian)
//	29     8    timestamp (ms)      network order (big-endian)
//	37     32   hmac                HMAC over bytes [0, 37)
//
// The package has no dependencies inside fpemu; everything else builds on it.
package tokens
