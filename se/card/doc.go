// Package card is the shield secure element's applet (docs/protocol.md
// §15): the SIM-sticker card of seed 002 that holds an SM2 signing key
// generated on the card, its certificate and two PINs, behind ISO/IEC
// 7816-4 APDUs.
//
// A Card is one card's persistent state — its EEPROM, a tee/store sealed
// SQLite database under a card key kept in the card's directory — and a
// Session is one power-on of it (or one connection of a transport): the
// selected applet, the security status (user PIN verified), a command
// chain being received and a response being fetched with GET RESPONSE.
// Session.Transmit takes a command APDU and always returns a response
// APDU: errors become status words (ISO/IEC 7816-4:2020 §5.6), never a
// panic, never a partial response.
//
// The PIN rules follow ISO/IEC 7816-4 VERIFY (§11.5.6), CHANGE REFERENCE
// DATA (§11.5.7) and RESET RETRY COUNTER (§11.5.10) with the semantics of
// GM/T 0016-2012 (SKF) SKF_VerifyPIN, SKF_ChangePIN and SKF_UnblockPIN:
// a try is spent durably before the comparison's outcome exists (so a
// reset or kill -9 between the two cannot buy a free try), 63CX reports
// the tries left, the sixth consecutive failure leaves 0 and every later
// VERIFY — also with the right PIN — answers 6983 until the admin PIN
// unblocks it; a right PIN restores the count.
package card
