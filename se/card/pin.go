package card

import (
	"bytes"
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/se/apdu"
	"github.com/fpemu/fpemu/tee/store"
)

// pinBlockSize is the size of each PIN field of CHANGE REFERENCE DATA and
// RESET RETRY COUNTER: the PIN's ASCII digits padded with 'FF' (the
// padding of ISO/IEC 7816-4 format 1 / PIV), so that the card can split
// old from new.
const pinBlockSize = MaxPINLen

// validPIN: 6 to 16 ASCII digits.
func validPIN(b []byte) bool {
	if len(b) < MinPINLen || len(b) > MaxPINLen {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// unpad reads one PIN field of pinBlockSize bytes: digits then 'FF' only.
func unpad(b []byte) (string, bool) {
	n := bytes.IndexByte(b, 0xFF)
	if n < 0 {
		n = len(b)
	}
	for _, c := range b[n:] {
		if c != 0xFF {
			return "", false
		}
	}
	if !validPIN(b[:n]) {
		return "", false
	}
	return string(b[:n]), true
}

// spendTry is the tearing-safe half of every PIN comparison: it commits
// "one try fewer" to the store and only then returns the record to
// compare against. blocked is true (and nothing is written) when no try
// is left. After a failed comparison nothing more needs writing; after a
// right one, restore writes the maximum back.
func (s *Session) spendTry(ctx context.Context, ref byte) (rec pinRecord, blocked bool, err error) {
	err = s.c.st.Tx(ctx, func(tx *store.Tx) error {
		p, err := loadPIN(tx, ref)
		if err != nil {
			return err
		}
		if p.tries == 0 {
			rec, blocked = p, true
			return errBlocked
		}
		p.tries--
		rec = p
		return putPIN(tx, ref, p)
	})
	if blocked {
		err = nil // the rolled-back transaction wrote nothing
	}
	return rec, blocked, err
}

// errBlocked rolls spendTry's transaction back when no try is left.
var errBlocked = errors.New("card: PIN blocked")

// checkPIN spends a try, compares and, on a match, restores the count.
// It returns the status word of a failure (63CX or 6983, or 6581), or
// 9000 and the record.
func (s *Session) checkPIN(ctx context.Context, ref byte, pin string) (pinRecord, apdu.SW) {
	if s.c.weak.NoPINLock {
		return s.checkPINUnlocked(ctx, ref, pin)
	}
	rec, blocked, err := s.spendTry(ctx, ref)
	if err != nil {
		return rec, s.memoryFailure("spend try", err).sw
	}
	if blocked {
		return rec, apdu.SWAuthMethodBlocked
	}
	if !rec.matches(pin) {
		s.c.log.Info("PIN mismatch", zap.Uint8("ref", ref), zap.Int("tries_left", rec.tries))
		return rec, apdu.VerifyFailed(rec.tries)
	}
	rec.tries = rec.max
	if err := s.c.st.Tx(ctx, func(tx *store.Tx) error { return putPIN(tx, ref, rec) }); err != nil {
		return rec, s.memoryFailure("restore tries", err).sw
	}
	return rec, apdu.SWOK
}

// checkPINUnlocked is the canary card's comparison (Weakening.NoPINLock):
// no try spent, never blocked.
func (s *Session) checkPINUnlocked(ctx context.Context, ref byte, pin string) (pinRecord, apdu.SW) {
	var rec pinRecord
	if err := s.c.st.View(ctx, func(tx *store.Tx) (err error) { rec, err = loadPIN(tx, ref); return err }); err != nil {
		return rec, s.memoryFailure("read PIN", err).sw
	}
	if !rec.matches(pin) {
		return rec, apdu.VerifyFailed(rec.tries)
	}
	return rec, apdu.SWOK
}

// verify is VERIFY (ISO/IEC 7816-4:2020 §11.5.6; GM/T 0016 SKF_VerifyPIN
// for the counter): P1 00, P2 = PIN reference (01 user, 02 admin), data
// the PIN as 6–16 ASCII digits.
//
//   - no data: the PIN's state, spending nothing — 9000 if verified in
//     this session, 6983 if blocked, else 63CX with X tries left;
//   - P1 FF, no data: reset the verification status (§11.5.6);
//   - a PIN that is not 6–16 digits: 6A80, no try spent (it can never
//     match, and the format is public);
//   - blocked: 6983 for every VERIFY, the right PIN included;
//   - otherwise one try is spent durably first; wrong: 63CX (X tries
//     left, 63C0 on the last) and the security status is cleared; right:
//     9000, the count is restored and the status set.
func (s *Session) verify(ctx context.Context, cmd apdu.Command) result {
	if cmd.P2 != RefUser && cmd.P2 != RefAdmin {
		return fail(apdu.SWReferencedDataNotFound)
	}
	switch {
	case cmd.P1 == 0xFF && len(cmd.Data) == 0:
		if cmd.P2 == RefUser {
			s.verified = false
		}
		return ok(nil)
	case cmd.P1 != 0x00:
		return fail(apdu.SWIncorrectP1P2)
	}
	if len(cmd.Data) == 0 {
		var rec pinRecord
		err := s.c.st.View(ctx, func(tx *store.Tx) (err error) { rec, err = loadPIN(tx, cmd.P2); return err })
		switch {
		case err != nil:
			return s.memoryFailure("read PIN", err)
		case rec.tries == 0:
			return fail(apdu.SWAuthMethodBlocked)
		case cmd.P2 == RefUser && s.verified:
			return ok(nil)
		}
		return fail(apdu.VerifyFailed(rec.tries))
	}
	if !validPIN(cmd.Data) {
		return fail(apdu.SWWrongData)
	}
	_, sw := s.checkPIN(ctx, cmd.P2, string(cmd.Data))
	if cmd.P2 == RefUser {
		s.verified = sw == apdu.SWOK
	}
	return fail(sw)
}

// twoPINs splits the data of CHANGE REFERENCE DATA / RESET RETRY COUNTER:
// two 16-byte FF-padded PIN fields.
func twoPINs(data []byte) (first, second string, ok bool) {
	if len(data) != 2*pinBlockSize {
		return "", "", false
	}
	a, ok1 := unpad(data[:pinBlockSize])
	b, ok2 := unpad(data[pinBlockSize:])
	return a, b, ok1 && ok2
}

// changeReferenceData is CHANGE REFERENCE DATA (ISO/IEC 7816-4:2020
// §11.5.7, P1 00: current then new reference data; GM/T 0016
// SKF_ChangePIN): P2 = PIN reference, data = old PIN field ‖ new PIN
// field (16 bytes each, FF-padded). The old PIN is checked exactly as
// VERIFY checks it (a try spent first, 63CX / 6983). The new PIN must be
// 6–16 digits, differ from the old one and, for the user PIN, not be the
// transport PIN (6A80). Success clears the transport state; it does not
// change this session's security status.
func (s *Session) changeReferenceData(ctx context.Context, cmd apdu.Command) result {
	if cmd.P1 != 0x00 {
		return fail(apdu.SWIncorrectP1P2)
	}
	if cmd.P2 != RefUser && cmd.P2 != RefAdmin {
		return fail(apdu.SWReferencedDataNotFound)
	}
	old, nw, valid := twoPINs(cmd.Data)
	if !valid || old == nw || (cmd.P2 == RefUser && nw == TransportPIN) || (cmd.P2 == RefAdmin && nw == DefaultAdmin) {
		return fail(apdu.SWWrongData)
	}
	rec, sw := s.checkPIN(ctx, cmd.P2, old)
	if sw != apdu.SWOK {
		if cmd.P2 == RefUser {
			s.verified = false
		}
		return fail(sw)
	}
	p, err := newPIN(s.c.rand, nw, rec.max, false)
	if err != nil {
		return s.memoryFailure("new PIN", err)
	}
	if err := s.c.st.Tx(ctx, func(tx *store.Tx) error { return putPIN(tx, cmd.P2, p) }); err != nil {
		return s.memoryFailure("change PIN", err)
	}
	s.c.log.Info("PIN changed", zap.Uint8("ref", cmd.P2))
	return ok(nil)
}

// resetRetryCounter is RESET RETRY COUNTER (ISO/IEC 7816-4:2020
// §11.5.10, P1 00: resetting code then new reference data) with the
// semantics of GM/T 0016 SKF_UnblockPIN: P2 01 (the user PIN), data =
// admin PIN field ‖ new user PIN field. The admin PIN is checked against
// its own counter (a try spent first; 63CX, 6983 when the admin PIN is
// blocked — then nothing unblocks the card). On success the user PIN
// becomes the new one with its full count, blocked or not.
func (s *Session) resetRetryCounter(ctx context.Context, cmd apdu.Command) result {
	if cmd.P1 != 0x00 {
		return fail(apdu.SWIncorrectP1P2)
	}
	if cmd.P2 != RefUser {
		return fail(apdu.SWReferencedDataNotFound)
	}
	admin, nw, valid := twoPINs(cmd.Data)
	if !valid || nw == TransportPIN {
		return fail(apdu.SWWrongData)
	}
	if _, sw := s.checkPIN(ctx, RefAdmin, admin); sw != apdu.SWOK {
		return fail(sw)
	}
	p, err := newPIN(s.c.rand, nw, MaxUserTries, false)
	if err != nil {
		return s.memoryFailure("new PIN", err)
	}
	if err := s.c.st.Tx(ctx, func(tx *store.Tx) error { return putPIN(tx, RefUser, p) }); err != nil {
		return s.memoryFailure("unblock", err)
	}
	s.verified = false
	s.c.log.Info("user PIN reset by admin PIN")
	return ok(nil)
}

// requireUser is the security condition of every private-key operation:
// the user PIN verified in this session (else 6982) and no longer the
// transport PIN (else 6985, conditions of use not satisfied).
func (s *Session) requireUser(ctx context.Context) (apdu.SW, bool) {
	if !s.verified {
		return apdu.SWSecurityNotSatisfied, false
	}
	var rec pinRecord
	err := s.c.st.View(ctx, func(tx *store.Tx) (err error) { rec, err = loadPIN(tx, RefUser); return err })
	if err != nil {
		return s.memoryFailure("read PIN", err).sw, false
	}
	if rec.factory {
		return apdu.SWConditionsNotSatisfied, false
	}
	return apdu.SWOK, true
}
