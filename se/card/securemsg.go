package card

import (
	"bytes"
	"context"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/se/apdu"
	"github.com/fpemu/fpemu/se/cardproto"
	"github.com/fpemu/fpemu/se/sm"
	"github.com/fpemu/fpemu/tee/store"
)

// objSMKey is the card's static secure-messaging key K (16 bytes).
const objSMKey = "key.sm"

// smKey reads K; nil when the card has none yet.
func (s *Session) smKey(ctx context.Context) ([]byte, error) {
	var k []byte
	err := s.c.st.View(ctx, func(tx *store.Tx) (err error) { k, _, err = get(tx, objSMKey); return err })
	return k, err
}

// transmitSM handles a command whose class announces secure messaging,
// or any command while a secure-messaging session is up. A protected
// command is unwrapped (sm.UnwrapCommand), processed as its plain form
// and its response protected. Any failure — no session, a bad MAC, a
// replayed, reordered, truncated or tampered APDU, or a plain APDU in
// the middle of the session — answers 6987 or 6988 unprotected, ends
// the session and clears the security status (ISO/IEC 7816-4:2020
// §10.2.3: the card aborts secure messaging).
func (s *Session) transmitSM(ctx context.Context, cmd apdu.Command) []byte {
	if !sm.IsProtected(cmd.CLA) {
		s.killSM("plain APDU during secure messaging")
		return apdu.Response{SW: apdu.SW(0x6987)}.Marshal()
	}
	if !s.sm.Alive() {
		s.killSM("protected APDU without a session")
		return apdu.Response{SW: apdu.SW(0x6988)}.Marshal()
	}
	if s.c.weak.NoSMReplayCheck {
		if raw, err := cmd.Marshal(); err == nil && s.retransmit.cmd != nil && bytes.Equal(raw, s.retransmit.cmd) {
			return bytes.Clone(s.retransmit.resp)
		}
	}
	plain, err := s.sm.UnwrapCommand(cmd)
	if err != nil {
		s.killSM(err.Error())
		return apdu.Response{SW: sm.StatusWord(err)}.Marshal()
	}
	if s.c.weak.NoSMReplayCheck {
		raw, _ := cmd.Marshal()
		resp := s.processSM(ctx, plain)
		s.retransmit.cmd, s.retransmit.resp = raw, bytes.Clone(resp)
		return resp
	}
	return s.processSM(ctx, plain)
}

// processSM runs an unwrapped command and protects its response.
func (s *Session) processSM(ctx context.Context, plain apdu.Command) []byte {
	if plain.INS == cardproto.InsGetResponse || plain.INS == cardproto.InsMutualAuth || plain.INS == cardproto.InsSelect {
		// Not under secure messaging: responses come whole (Ne up to
		// sm.MaxPlainData), and SELECT or a new authentication would
		// end the session anyway.
		return s.wrap(apdu.Response{SW: apdu.SWConditionsNotSatisfied})
	}
	s.inSM = true
	r := s.process(ctx, plain)
	s.inSM = false
	s.pending = nil
	if r.sw == apdu.SWOK && len(r.data) > plain.Ne {
		r = result{sw: apdu.SWWrongLe | apdu.SW(min(len(r.data), 0xFF))}
	}
	return s.wrap(apdu.Response{Data: r.data, SW: r.sw})
}

func (s *Session) wrap(r apdu.Response) []byte {
	w, err := s.sm.WrapResponse(r)
	if err != nil {
		s.killSM(err.Error())
		return apdu.Response{SW: apdu.SWUnknown}.Marshal()
	}
	return w.Marshal()
}

// killSM ends the secure-messaging session and the security status.
func (s *Session) killSM(why string) {
	if s.sm != nil {
		s.sm.Kill()
	}
	s.sm, s.verified, s.chal = nil, false, nil
	s.c.log.Warn("secure messaging aborted", zap.String("reason", why))
}

// needsSM reports whether cmd may only arrive under secure messaging:
// once the card has an SM key, every command that takes a PIN or uses
// the private key (docs/protocol.md §15.4.3).
func needsSM(cmd apdu.Command) bool {
	switch cmd.INS {
	case cardproto.InsVerify:
		return len(cmd.Data) > 0
	case cardproto.InsChangeRefData, cardproto.InsResetRetry, cardproto.InsPSO, cardproto.InsInternalAuth, cardproto.InsPutData:
		return true
	case cardproto.InsGenerateKeyPair:
		return cmd.P1 == 0x00
	case cardproto.InsGetData:
		return uint16(cmd.P1)<<8|uint16(cmd.P2) == cardproto.DOCertRequest
	}
	return false
}

// mutualAuthenticate is MUTUAL AUTHENTICATE (ISO/IEC 7816-4:2020
// §11.5.5), P1 P2 00: data RND.IFD (16) ‖ host cryptogram (16) after a
// GET CHALLENGE of exactly 16 bytes (RND.ICC, single use). The card
// checks the cryptogram against K in constant time, answers its own
// cryptogram and starts a secure-messaging session (sm.NewSession).
// 6A88 without an SM key, 6985 without a fresh 16-byte challenge, 6300
// for a wrong cryptogram.
func (s *Session) mutualAuthenticate(ctx context.Context, cmd apdu.Command) result {
	chal := s.chal
	s.chal = nil
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return fail(apdu.SWIncorrectP1P2)
	}
	if len(cmd.Data) != sm.RandSize+sm.CryptoSize {
		return fail(apdu.SWWrongLength)
	}
	k, err := s.smKey(ctx)
	if err != nil {
		return s.memoryFailure("read SM key", err)
	}
	if k == nil {
		return fail(apdu.SWReferencedDataNotFound)
	}
	if len(chal) != sm.RandSize {
		return fail(apdu.SWConditionsNotSatisfied)
	}
	ifd := cmd.Data[:sm.RandSize]
	want, err := sm.HostCryptogram(k, chal, ifd)
	if err != nil {
		return s.memoryFailure("cryptogram", err)
	}
	if sm.CheckCryptogram(cmd.Data[sm.RandSize:], want) != nil {
		s.c.log.Info("mutual authentication failed")
		return fail(apdu.SW(0x6300))
	}
	sess, err := sm.NewSession(k, chal, ifd)
	if err != nil {
		return s.memoryFailure("SM session", err)
	}
	resp, err := sm.CardCryptogram(k, chal, ifd)
	if err != nil {
		return s.memoryFailure("cryptogram", err)
	}
	s.sm, s.verified = sess, false
	return ok(resp)
}

// initSMKey is INITIALIZE SM KEY (80 E2 00 00, proprietary): the
// personalisation step of seed 002's key split — the card generates a
// fresh static SM key K and hands it out once, for the middleware to
// split (se/keyshare). Data: the admin PIN field (16 bytes, FF-padded),
// checked on its own counter like RESET RETRY COUNTER (63CX, 6983).
// A new K replaces the old one (re-keying after lost shares) and ends
// nothing else. It is refused under secure messaging (6985): K must not
// travel under a session derived from the key it replaces.
func (s *Session) initSMKey(ctx context.Context, cmd apdu.Command) result {
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return fail(apdu.SWIncorrectP1P2)
	}
	if s.inSM {
		return fail(apdu.SWConditionsNotSatisfied)
	}
	if len(cmd.Data) != pinBlockSize {
		return fail(apdu.SWWrongData)
	}
	admin, valid := unpad(cmd.Data)
	if !valid {
		return fail(apdu.SWWrongData)
	}
	if _, sw := s.checkPIN(ctx, RefAdmin, admin); sw != apdu.SWOK {
		return fail(sw)
	}
	k := make([]byte, sm.KeySize)
	if _, err := s.c.rand.Read(k); err != nil {
		return s.memoryFailure("random", err)
	}
	if err := s.c.st.Tx(ctx, func(tx *store.Tx) error { return put(tx, objSMKey, k) }); err != nil {
		return s.memoryFailure("store SM key", err)
	}
	s.c.log.Info("SM key initialised")
	return ok(k)
}
