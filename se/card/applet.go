package card

import (
	"bytes"
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/se/apdu"
	"github.com/fpemu/fpemu/se/cardproto"
	"github.com/fpemu/fpemu/se/sm"
)

// Session is one power-on of a card: what the card keeps in RAM.
type Session struct {
	c        *Card
	selected bool
	verified bool // the user PIN was verified in this session (security status)
	chain    *apdu.Command
	pending  []byte      // response bytes left for GET RESPONSE
	chal     []byte      // the last GET CHALLENGE
	sm       *sm.Session // the secure-messaging session (§15.4), nil without one
	inSM     bool        // the command being processed arrived protected
	// retransmit is the canary card's cache (Weakening.NoSMReplayCheck):
	// the last protected command and the response it got.
	retransmit struct{ cmd, resp []byte }
}

// NewSession powers the card on: nothing selected, nothing verified.
func (c *Card) NewSession() *Session { return &Session{c: c} }

// Reset is a warm reset: the session's RAM state is cleared.
func (s *Session) Reset() { *s = Session{c: s.c} }

// result is what a handler returns.
type result struct {
	data []byte
	sw   apdu.SW
}

func ok(data []byte) result  { return result{data: data, sw: apdu.SWOK} }
func fail(sw apdu.SW) result { return result{sw: sw} }

// Transmit processes one command APDU and returns the response APDU. It
// never fails: a malformed APDU is 6700 (wrong length), 6E00 (class) or
// 6D00 (instruction); a store failure is 6581 (memory failure) and
// changes nothing the host can observe beyond that.
func (s *Session) Transmit(ctx context.Context, raw []byte) []byte {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	cmd, err := apdu.ParseCommand(raw)
	if err != nil {
		switch {
		case errors.Is(err, apdu.ErrInvalidCLA):
			return apdu.Response{SW: apdu.SWCLANotSupported}.Marshal()
		case errors.Is(err, apdu.ErrInvalidINS):
			return apdu.Response{SW: apdu.SWINSNotSupported}.Marshal()
		}
		return apdu.Response{SW: apdu.SWWrongLength}.Marshal()
	}
	if s.sm != nil || sm.IsProtected(cmd.CLA) {
		return s.transmitSM(ctx, cmd)
	}
	r := s.process(ctx, cmd)
	return s.respond(cmd, r)
}

// respond applies the Le rules: data beyond Ne (or any data of a command
// without Le) is kept for GET RESPONSE and announced with 61XX (ISO/IEC
// 7816-4:2020 §5.3.4).
func (s *Session) respond(cmd apdu.Command, r result) []byte {
	s.pending = nil
	if r.sw != apdu.SWOK || len(r.data) == 0 {
		return apdu.Response{Data: r.data, SW: r.sw}.Marshal()
	}
	return s.serve(r.data, cmd.Ne)
}

func (s *Session) serve(data []byte, ne int) []byte {
	if ne == 0 {
		s.pending = data
		return apdu.Response{SW: apdu.BytesRemaining(len(data))}.Marshal()
	}
	if len(data) <= ne {
		return apdu.Response{Data: data, SW: apdu.SWOK}.Marshal()
	}
	s.pending = data[ne:]
	return apdu.Response{Data: data[:ne], SW: apdu.BytesRemaining(len(s.pending))}.Marshal()
}

func (s *Session) process(ctx context.Context, cmd apdu.Command) result {
	if cmd.CLA == cardproto.ClaProprietary && s.chain == nil {
		if cmd.INS != cardproto.InsInitSMKey {
			return fail(apdu.SWINSNotSupported)
		}
		if !s.selected {
			return fail(apdu.SWConditionsNotSatisfied)
		}
		return s.initSMKey(ctx, cmd)
	}
	if cmd.CLA&0xE0 != 0 || cmd.CLA&0x0F != 0 {
		// First interindustry class only (ISO/IEC 7816-4 §5.4.1), no
		// secure messaging and logical channel 0 in this round.
		s.chain = nil
		return fail(apdu.SWCLANotSupported)
	}
	if cmd.INS == cardproto.InsGetResponse {
		return s.getResponse(cmd)
	}
	// Command chaining (ISO/IEC 7816-4:2020 §5.3.3): the parts of one
	// chain share INS, P1, P2; the card answers 9000 to each non-last
	// part and processes the whole at the last.
	if s.chain != nil {
		if cmd.INS != s.chain.INS || cmd.P1 != s.chain.P1 || cmd.P2 != s.chain.P2 {
			s.chain = nil
			return fail(apdu.SWLastCommandExpected)
		}
		if len(s.chain.Data)+len(cmd.Data) > cardproto.MaxChainSize {
			s.chain = nil
			return fail(apdu.SWWrongLength)
		}
		s.chain.Data = append(s.chain.Data, cmd.Data...)
		if cmd.Chained() {
			return ok(nil)
		}
		whole := *s.chain
		whole.CLA, whole.Ne = cmd.CLA, cmd.Ne
		s.chain = nil
		cmd = whole
	} else if cmd.Chained() {
		if cmd.INS != cardproto.InsPutData && cmd.INS != cardproto.InsPSO {
			return fail(apdu.SW(0x6884)) // command chaining not supported
		}
		c := cmd
		c.Data = append([]byte(nil), cmd.Data...)
		s.chain = &c
		return ok(nil)
	}
	if cmd.INS == cardproto.InsSelect {
		return s.selectApplet(cmd)
	}
	if !s.selected {
		return fail(apdu.SWConditionsNotSatisfied)
	}
	if !s.inSM && needsSM(cmd) {
		// Once the card has an SM key, PINs and the private key are
		// reachable only under secure messaging (§15.4.3).
		k, err := s.smKey(ctx)
		if err != nil {
			return s.memoryFailure("read SM key", err)
		}
		if k != nil {
			return fail(apdu.SWSecurityNotSatisfied)
		}
	}
	switch cmd.INS {
	case cardproto.InsMutualAuth:
		return s.mutualAuthenticate(ctx, cmd)
	case cardproto.InsVerify:
		return s.verify(ctx, cmd)
	case cardproto.InsChangeRefData:
		return s.changeReferenceData(ctx, cmd)
	case cardproto.InsResetRetry:
		return s.resetRetryCounter(ctx, cmd)
	case cardproto.InsGenerateKeyPair:
		return s.generateKeyPair(ctx, cmd)
	case cardproto.InsPSO:
		return s.pso(ctx, cmd)
	case cardproto.InsGetChallenge:
		return s.getChallenge(cmd)
	case cardproto.InsInternalAuth:
		return s.internalAuthenticate(ctx, cmd)
	case cardproto.InsGetData:
		return s.getData(ctx, cmd)
	case cardproto.InsPutData:
		return s.putData(ctx, cmd)
	}
	return fail(apdu.SWINSNotSupported)
}

// getResponse returns the next part of a pending response (ISO/IEC
// 7816-4:2020 §11.7.1).
func (s *Session) getResponse(cmd apdu.Command) result {
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return fail(apdu.SWIncorrectP1P2)
	}
	if len(s.pending) == 0 || len(cmd.Data) != 0 {
		return fail(apdu.SWConditionsNotSatisfied)
	}
	return ok(s.pending)
}

// selectApplet: SELECT by DF name (P1 04), first or only occurrence, FCI
// (P2 00) or no response data (P2 0C); ISO/IEC 7816-4:2020 §11.2.2.
// Selecting resets the security status.
func (s *Session) selectApplet(cmd apdu.Command) result {
	if cmd.P1 != 0x04 || (cmd.P2 != 0x00 && cmd.P2 != 0x0C) {
		return fail(apdu.SWIncorrectP1P2)
	}
	s.selected, s.verified, s.chal = false, false, nil
	if !bytes.Equal(cmd.Data, cardproto.AID) {
		return fail(apdu.SWFileNotFound)
	}
	s.selected = true
	if cmd.P2 == 0x0C {
		return ok(nil)
	}
	// FCI template '6F' with the DF name '84' (§7.4.1, Table 12).
	fci := append([]byte{0x6F, byte(2 + len(cardproto.AID)), 0x84, byte(len(cardproto.AID))}, cardproto.AID...)
	return ok(fci)
}

// memoryFailure logs a store error (never PINs or keys) and answers 6581.
func (s *Session) memoryFailure(op string, err error) result {
	s.c.log.Error("card store", zap.String("op", op), zap.Error(err))
	return fail(apdu.SWMemoryFailure)
}
