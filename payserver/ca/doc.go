// Package ca is fpemu's certificate authority (docs/protocol.md, section
// "Certificate authority"; `fpemu ca`): one SM2 root key, its self-signed
// root certificate, and a register of every certificate it issued, all in
// one owner-only directory.
//
// It issues SM2 certificates (smx509, SM2-with-SM3) from PKCS#10 requests
// for two profiles, device and server, as a signing certificate, an
// encryption certificate, or a dual pair of both (GM/T 0015-2012 Annex C,
// tables C.3 and C.4; the dual-certificate system of GM/T 0034-2014): the
// pair the trusted channel (package channel) expects of each side. It
// returns them as a PKCS#7 certs-only bundle (RFC 2315 degenerate
// SignedData), revokes them and signs CRLs (RFC 5280 §5).
//
// Every request is checked before anything is signed: the request parses
// within MaxCSRSize, its self-signature verifies, its key is SM2, it was
// not seen before, and its subject and extensions are ones the profile
// allows. Each refusal wraps one sentinel of errors.go, and nothing is
// written to the register for a refused request.
//
// The root key is read from the CA directory by Open and never leaves the
// process: no API returns it, and it never appears in argv, environment,
// logs or errors. The register is SQLite (go-sqlite3) in the same
// directory; Issue and Revoke are single transactions.
//
// What `fpemu server` and tests call in process is Init, Open, (*CA).Issue,
// Revoke, CRL and List; NewCSR and the key-file helpers make requests
// without OpenSSL.
package ca
