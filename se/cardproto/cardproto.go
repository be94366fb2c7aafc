// Package cardproto is the shield card's APDU protocol as a host sees it
// (docs/protocol.md §15): the applet's AID, instruction bytes, data
// objects, PIN references, factory PINs and try counts, the shield flows'
// P2 values and status words, and the bounds a card session keeps.
//
// It holds no card state and links no sealed store, so the REE — the
// security middleware (se/middleware), the transports' clients and the
// attack tool — imports it instead of the card itself (se/card, whose
// constants are these).
package cardproto

import "github.com/fpemu/fpemu/se/apdu"

// AID is the shield applet's application identifier: proprietary RID
// category F (ISO/IEC 7816-5 §5.2: 'F' = non-registered) "FPEMU" and
// version 01.
var AID = []byte{0xF0, 0x46, 0x50, 0x45, 0x4D, 0x55, 0x01}

// Instruction bytes (ISO/IEC 7816-4:2020 Table 4, ISO/IEC 7816-8 for
// PSO and key-pair generation).
const (
	InsSelect          byte = 0xA4 // SELECT (7816-4 §11.2.2)
	InsVerify          byte = 0x20 // VERIFY (§11.5.6)
	InsChangeRefData   byte = 0x24 // CHANGE REFERENCE DATA (§11.5.7)
	InsResetRetry      byte = 0x2C // RESET RETRY COUNTER (§11.5.10)
	InsGenerateKeyPair byte = 0x46 // GENERATE ASYMMETRIC KEY PAIR (7816-8 §5.1)
	InsPSO             byte = 0x2A // PERFORM SECURITY OPERATION (7816-8 §5.2)
	InsGetChallenge    byte = 0x84 // GET CHALLENGE (7816-4 §11.5.3)
	InsInternalAuth    byte = 0x88 // INTERNAL AUTHENTICATE (§11.5.2)
	InsGetData         byte = 0xCA // GET DATA (§11.4.3)
	InsPutData         byte = 0xDA // PUT DATA (§11.4.6)
	InsGetResponse     byte = 0xC0 // GET RESPONSE (§11.7.1)
)

// Secure-messaging instructions (docs/protocol.md §15.4).
const (
	InsMutualAuth  byte = 0x82 // MUTUAL AUTHENTICATE (ISO/IEC 7816-4:2020 §11.5.5), CLA 00
	InsInitSMKey   byte = 0xE2 // INITIALIZE SM KEY, proprietary class 80
	ClaProprietary byte = 0x80
)

// Data objects of GET DATA / PUT DATA (P1-P2; fpemu's own numbers in the
// proprietary range 0100-01FF).
const (
	DOCertRequest uint16 = 0x0101 // GET: a fresh PKCS#10 of the signing key (PIN)
	DOCertificate uint16 = 0x0102 // GET: the certificate (DER); PUT: the CA's PKCS#7 (PIN)
	DOSerial      uint16 = 0x0103 // GET: the card serial number (8 bytes)
	DOPublicKey   uint16 = 0x0104 // GET: the signing public key, 04 ‖ X ‖ Y
	// DOServerCert is the pinned server certificate: PUT DATA (once, at
	// personalisation, admin PIN) and GET DATA.
	DOServerCert uint16 = 0x0105
)

// Bounds of what a peer can make a session hold.
const (
	MaxChainSize     = 16 << 10 // command chaining (ISO/IEC 7816-4 §5.3.3) and PUT DATA
	MaxSignInput     = 4096     // PSO COMPUTE DIGITAL SIGNATURE input
	MinAuthChallenge = 8        // INTERNAL AUTHENTICATE challenge
	MaxAuthChallenge = 64
	MaxChallenge     = 32 // GET CHALLENGE
)

// Seed 002's server flows on the card (docs/protocol.md §15.6).
const (
	// P2ServerLogin is INTERNAL AUTHENTICATE's P2 for the server-
	// authenticated login: the card signs the random only after the
	// server's signature over it verified under the pinned certificate.
	P2ServerLogin byte = 0x01
	// P2Confirm is PSO COMPUTE DIGITAL SIGNATURE's P2 for a pre-submit
	// confirmation (ISO/IEC 7816-8 'BC': the data field holds the
	// signature input's parts — here pre-submit, nonce and the server's
	// signature over both).
	P2Confirm byte = 0xBC
	// SWServerSignature answers a server signature that does not verify
	// under the pinned certificate (ISO/IEC 7816-4 6300, verification
	// failed, no further information).
	SWServerSignature apdu.SW = 0x6300
)

// Factory values of a fresh card (issue 12; GM/T 0016 SKF_CreateApplication
// takes the same four: the PINs and their try counts).
const (
	TransportPIN  = "123456"   // the user PIN of a fresh card; signing is refused until it is changed
	DefaultAdmin  = "12345678" // the admin PIN of a fresh card
	MaxUserTries  = 6          // seed 002: locked after six consecutive failures
	MaxAdminTries = 10         // the admin PIN's own counter
	MinPINLen     = 6
	MaxPINLen     = 16
)

// PIN references (ISO/IEC 7816-4 §11.5.6 P2: b8 = 0 global reference).
const (
	RefUser  byte = 0x01
	RefAdmin byte = 0x02
)
