// Package boot is fpemu's secure boot: what the launcher (package sim/device)
// does before any TA runs, and what a TA process receives from it
// (docs/architecture.md rule 2).
//
//   - The fused key: the device root secret, DIR/fused.key, 32 random bytes
//     created on first boot, mode 0600, read only by the launcher — the
//     stand-in for a hardware-unique key fused into the SoC.
//   - Key derivation (HKDF-SHA256, RFC 5869, from the standard library's
//     crypto/hkdf): a per-TA storage key that is stable across boots, and a
//     pairwise SM4 key per manifest route that changes every boot, so an
//     envelope sealed in one boot never opens in another.
//   - The provisioning record: one TA's identity, storage key, the pairwise
//     keys of the routes it is an endpoint of (and no others), the boot ID
//     and the boot clock origin. The launcher writes it on a pipe the TA
//     inherits as fd 3; the TA reads it once and closes the descriptor.
//     Secrets never travel in argv, env, a file or a log.
//   - The boot clock: milliseconds since device boot, from CLOCK_BOOTTIME
//     minus the origin the launcher sampled, identical in every process of
//     one device (docs/architecture.md rule 6).
//
// Every secret type (FusedKey, StorageKey, envelope.Key) prints
// "[redacted]" under fmt, zap and encoding/json, and no error string
// carries key material. The package logs nothing.
package boot
