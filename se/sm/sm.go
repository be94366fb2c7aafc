// Package sm is the shield's secure messaging (docs/protocol.md §15.4):
// the channel between the middleware (se/middleware) and the card
// (se/card) that seed 002 calls 通道管理 — every APDU encrypted with SM4
// and authenticated with an SM4 MAC over a send sequence counter, carried
// in the ISO/IEC 7816-4:2020 §10 secure-messaging data objects.
//
// It is a pure codec and state machine: no I/O, no clock, the randoms
// passed in.
//
// Establishment (§15.4.1): the host reads RND.ICC with GET CHALLENGE (16
// bytes) and sends MUTUAL AUTHENTICATE with RND.IFD ‖ HostCryptogram;
// the card checks it and answers CardCryptogram. Both cryptograms are
// CMAC-SM4 under K_auth = SM3-KDF(K ‖ "auth"), K the card's static SM key
// (16 bytes; the key the middleware keeps as a Shamir split). The
// session keys are SM3-KDF(K ‖ RND.ICC ‖ RND.IFD ‖ "session", 32) (GB/T
// 32918.4 §5.4.3 KDF with SM3): the first 16 bytes K_enc, the next 16
// K_mac. The send sequence counter SSC (16 bytes, big-endian) starts at
// 0 and is incremented before every command and every response MAC, so
// each protected APDU has its own counter value.
//
// Protection of one APDU (ISO/IEC 7816-4:2020 §10.2, the ICAO Doc 9303-11
// §9.8 layout):
//
//	command:  CLA|0C INS P1 P2 Lc [87 L 01‖E(data)] [97 L Le] 8E 08 MAC Le'
//	response: [87 L 01‖E(data)] 99 02 SW1SW2 8E 08 MAC 9000
//
// E is SM4-CBC under K_enc with IV = SM4_K_enc(SSC) over the data padded
// with ISO/IEC 9797-1 padding method 2 (80 00…). The MAC is CMAC-SM4
// (ISO/IEC 9797-1:2011 MAC algorithm 5, NIST SP 800-38B) under K_mac,
// truncated to 8 bytes, over SSC ‖ pad(CLA INS P1 P2) ‖ DO87 ‖ DO97
// (command) or SSC ‖ DO87 ‖ DO99 (response), padded with method 2. CMAC
// rather than plain CBC-MAC (MAC algorithm 1): CBC-MAC is forgeable for
// messages of varying length, and protected APDUs vary.
//
// A receiver checks the MAC (constant time) before it decrypts anything
// (encrypt-then-MAC: no padding oracle). Any failure — a missing 8E or
// 99 (ErrMissing, status word 6987), a bad MAC, a malformed or duplicated
// DO, a replayed, reordered or truncated APDU (ErrInvalid, 6988) — kills
// the session: its keys are wiped and every later call returns ErrDead.
package sm

import (
	"bytes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/cbcmac"
	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/sm4"

	"github.com/fpemu/fpemu/se/apdu"
)

// Sizes.
const (
	KeySize      = 16 // the static key K and each session key
	RandSize     = 16 // RND.ICC and RND.IFD
	CryptoSize   = 16 // HostCryptogram and CardCryptogram
	MACSize      = 8  // DO 8E
	blockSize    = 16 // SM4
	claSM        = 0x0C
	MaxPlainData = 32 << 10 // the most data one protected APDU carries (either way)
)

// Tags of the secure-messaging data objects (ISO/IEC 7816-4:2020 §10.2.2,
// Table 50).
const (
	TagCrypto   = 0x87 // padding-content indicator ‖ cryptogram
	TagLe       = 0x97 // Le of the unprotected command
	TagSW       = 0x99 // processing status of the unprotected response
	TagMAC      = 0x8E // cryptographic checksum
	padIndISO   = 0x01 // padding-content indicator: ISO/IEC 9797-1 method 2
	authLabel   = "auth"
	sessLabel   = "session"
	hostCrypLbl = "IFD"
	cardCrypLbl = "ICC"
)

// Errors. ErrMissing and ErrInvalid are the two ways a protected APDU is
// refused; StatusWord maps them to 6987 and 6988.
var (
	ErrMissing = errors.New("sm: expected secure messaging data object missing")
	ErrInvalid = errors.New("sm: incorrect secure messaging data object")
	ErrDead    = errors.New("sm: session terminated")
	ErrAuth    = errors.New("sm: authentication cryptogram mismatch")
	ErrKey     = errors.New("sm: key must be 16 bytes")
)

// StatusWord is the status word of an unwrap error: 6987 for ErrMissing,
// 6988 otherwise (ISO/IEC 7816-4:2020 §5.6 Table 6).
func StatusWord(err error) apdu.SW {
	if errors.Is(err, ErrMissing) {
		return apdu.SW(0x6987)
	}
	return apdu.SW(0x6988)
}

func kdf(parts ...[]byte) []byte { return sm3.Kdf(bytes.Join(parts, nil), 2*KeySize) }

func authKey(k []byte) []byte { return sm3.Kdf(append(append([]byte{}, k...), authLabel...), KeySize) }

// cmac is CMAC-SM4 (ISO/IEC 9797-1:2011 MAC algorithm 5), 16 bytes.
func cmac(key []byte, msg []byte) []byte {
	b, _ := sm4.NewCipher(key) // key is always KeySize bytes here
	return cbcmac.NewCMAC(b, blockSize).MAC(msg)
}

// HostCryptogram is the host's proof of K for MUTUAL AUTHENTICATE:
// CMAC-SM4_K_auth("IFD" ‖ RND.IFD ‖ RND.ICC), 16 bytes.
func HostCryptogram(k, rndICC, rndIFD []byte) ([]byte, error) {
	if err := checkInputs(k, rndICC, rndIFD); err != nil {
		return nil, err
	}
	return cmac(authKey(k), bytes.Join([][]byte{[]byte(hostCrypLbl), rndIFD, rndICC}, nil)), nil
}

// CardCryptogram is the card's answer: CMAC-SM4_K_auth("ICC" ‖ RND.ICC ‖
// RND.IFD), 16 bytes.
func CardCryptogram(k, rndICC, rndIFD []byte) ([]byte, error) {
	if err := checkInputs(k, rndICC, rndIFD); err != nil {
		return nil, err
	}
	return cmac(authKey(k), bytes.Join([][]byte{[]byte(cardCrypLbl), rndICC, rndIFD}, nil)), nil
}

// CheckCryptogram compares a received cryptogram with the expected one
// in constant time.
func CheckCryptogram(got, want []byte) error {
	if len(got) != CryptoSize || subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrAuth
	}
	return nil
}

func checkInputs(k, rndICC, rndIFD []byte) error {
	if len(k) != KeySize {
		return ErrKey
	}
	if len(rndICC) != RandSize || len(rndIFD) != RandSize {
		return fmt.Errorf("sm: randoms must be %d bytes", RandSize)
	}
	return nil
}

// Session is one secure-messaging session: the session keys and the send
// sequence counter. The host and the card each hold one. It is not safe
// for concurrent use (APDUs are sequential).
type Session struct {
	enc, mac []byte
	block    cipher.Block
	ssc      [blockSize]byte
	dead     bool
}

// NewSession derives the session keys from K and both randoms (SSC 0).
func NewSession(k, rndICC, rndIFD []byte) (*Session, error) {
	if err := checkInputs(k, rndICC, rndIFD); err != nil {
		return nil, err
	}
	ks := kdf(k, rndICC, rndIFD, []byte(sessLabel))
	b, err := sm4.NewCipher(ks[:KeySize])
	if err != nil {
		return nil, err
	}
	return &Session{enc: ks[:KeySize], mac: ks[KeySize:], block: b}, nil
}

// Alive reports whether the session can still protect APDUs.
func (s *Session) Alive() bool { return s != nil && !s.dead }

// Kill wipes the keys; every later call returns ErrDead.
func (s *Session) Kill() {
	clear(s.enc)
	clear(s.mac)
	s.block = nil
	s.dead = true
}

// fail kills the session and returns err.
func (s *Session) fail(err error) error {
	s.Kill()
	return err
}

func (s *Session) incSSC() {
	for i := len(s.ssc) - 1; i >= 0; i-- {
		s.ssc[i]++
		if s.ssc[i] != 0 {
			return
		}
	}
}

// pad is ISO/IEC 9797-1 padding method 2.
func pad(b []byte) []byte {
	out := append(append([]byte{}, b...), 0x80)
	for len(out)%blockSize != 0 {
		out = append(out, 0)
	}
	return out
}

// unpad removes method-2 padding; called only after the MAC verified.
func unpad(b []byte) ([]byte, bool) {
	i := len(b) - 1
	for i >= 0 && b[i] == 0 {
		i--
	}
	if i < 0 || b[i] != 0x80 || len(b)-i > blockSize {
		return nil, false
	}
	return b[:i], true
}

func (s *Session) iv() []byte {
	iv := make([]byte, blockSize)
	s.block.Encrypt(iv, s.ssc[:])
	return iv
}

func (s *Session) encrypt(p []byte) []byte {
	in := pad(p)
	out := make([]byte, len(in))
	cipher.NewCBCEncrypter(s.block, s.iv()).CryptBlocks(out, in)
	return out
}

func (s *Session) decrypt(c []byte) ([]byte, bool) {
	if len(c) == 0 || len(c)%blockSize != 0 {
		return nil, false
	}
	out := make([]byte, len(c))
	cipher.NewCBCDecrypter(s.block, s.iv()).CryptBlocks(out, c)
	return unpad(out)
}

func (s *Session) macOver(parts ...[]byte) []byte {
	msg := append(append([]byte{}, s.ssc[:]...), bytes.Join(parts, nil)...)
	return cmac(s.mac, pad(msg))[:MACSize]
}

// tlv encodes one BER-TLV data object with a definite length (ISO/IEC
// 7816-4:2020 §6.3: 1, 2 or 3 length bytes).
func tlv(tag byte, v []byte) []byte {
	out := []byte{tag}
	switch n := len(v); {
	case n < 0x80:
		out = append(out, byte(n))
	case n <= 0xFF:
		out = append(out, 0x81, byte(n))
	default:
		out = append(out, 0x82, byte(n>>8), byte(n))
	}
	return append(out, v...)
}

// do is one parsed data object with its encoding.
type do struct {
	tag      byte
	val, raw []byte
}

// parseDOs splits a data field into single-byte-tag BER-TLV objects,
// strictly: only the tags in allowed, each at most once, in the order
// given by allowed, minimal lengths, nothing left over.
func parseDOs(b []byte, allowed []byte) (map[byte]do, error) {
	out := map[byte]do{}
	next := 0
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, fmt.Errorf("%w: truncated data object", ErrInvalid)
		}
		tag, n, hl := b[0], 0, 2
		switch l := b[1]; {
		case l < 0x80:
			n = int(l)
		case l == 0x81 && len(b) >= 3 && b[2] >= 0x80:
			n, hl = int(b[2]), 3
		case l == 0x82 && len(b) >= 4 && b[2] != 0:
			n, hl = int(binary.BigEndian.Uint16(b[2:4])), 4
		default:
			return nil, fmt.Errorf("%w: bad length of tag %02X", ErrInvalid, tag)
		}
		if len(b)-hl < n {
			return nil, fmt.Errorf("%w: truncated data object %02X", ErrInvalid, tag)
		}
		i := bytes.IndexByte(allowed[next:], tag)
		if i < 0 {
			return nil, fmt.Errorf("%w: tag %02X unexpected here", ErrInvalid, tag)
		}
		next += i + 1
		out[tag] = do{tag: tag, val: b[hl : hl+n], raw: b[:hl+n]}
		b = b[hl+n:]
	}
	return out, nil
}

// WrapCommand protects a plain command (host side): the class becomes
// CLA|0C, the data is encrypted into DO 87, Ne goes into DO 97 and the
// MAC into DO 8E; the outer Le asks for everything (extended 0000 when
// the APDU is extended, else 00). The plain CLA must be 00 (no chaining,
// no logical channel).
func (s *Session) WrapCommand(c apdu.Command) (apdu.Command, error) {
	if !s.Alive() {
		return apdu.Command{}, ErrDead
	}
	if c.CLA != 0x00 {
		return apdu.Command{}, fmt.Errorf("sm: cannot protect CLA %02X", c.CLA)
	}
	if len(c.Data) > MaxPlainData || c.Ne > MaxPlainData {
		return apdu.Command{}, fmt.Errorf("sm: %d data bytes, Ne %d: at most %d", len(c.Data), c.Ne, MaxPlainData)
	}
	s.incSSC()
	var do87, do97 []byte
	if len(c.Data) > 0 {
		do87 = tlv(TagCrypto, append([]byte{padIndISO}, s.encrypt(c.Data)...))
	}
	if c.Ne > 0 {
		do97 = tlv(TagLe, binary.BigEndian.AppendUint16(nil, uint16(c.Ne)))
	}
	hdr := pad([]byte{claSM, c.INS, c.P1, c.P2})
	mac := s.macOver(hdr, do87, do97)
	data := bytes.Join([][]byte{do87, do97, tlv(TagMAC, mac)}, nil)
	out := apdu.Command{CLA: claSM, INS: c.INS, P1: c.P1, P2: c.P2, Data: data, Ne: apdu.MaxNe, Extended: true}
	return out, nil
}

// IsProtected reports whether a command's class announces secure
// messaging with an authenticated header (ISO/IEC 7816-4:2020 §5.4.1, b4
// b3 = 11).
func IsProtected(cla byte) bool { return cla&0xE0 == 0 && cla&0x0C == 0x0C }

// UnwrapCommand checks and decrypts a protected command (card side) and
// returns the plain command (CLA 00). The class must be exactly 0C; DO 8E
// is required (ErrMissing); any other failure is ErrInvalid. Either
// error kills the session.
func (s *Session) UnwrapCommand(c apdu.Command) (apdu.Command, error) {
	if !s.Alive() {
		return apdu.Command{}, ErrDead
	}
	if c.CLA != claSM {
		return apdu.Command{}, s.fail(fmt.Errorf("%w: class %02X", ErrInvalid, c.CLA))
	}
	dos, err := parseDOs(c.Data, []byte{TagCrypto, TagLe, TagMAC})
	if err != nil {
		return apdu.Command{}, s.fail(err)
	}
	m, ok := dos[TagMAC]
	if !ok {
		return apdu.Command{}, s.fail(fmt.Errorf("%w: no DO 8E", ErrMissing))
	}
	s.incSSC()
	want := s.macOver(pad([]byte{c.CLA, c.INS, c.P1, c.P2}), dos[TagCrypto].raw, dos[TagLe].raw)
	if len(m.val) != MACSize || subtle.ConstantTimeCompare(m.val, want) != 1 {
		return apdu.Command{}, s.fail(fmt.Errorf("%w: MAC", ErrInvalid))
	}
	plain := apdu.Command{CLA: 0x00, INS: c.INS, P1: c.P1, P2: c.P2}
	if d, ok := dos[TagCrypto]; ok {
		if len(d.val) < 1+blockSize || d.val[0] != padIndISO {
			return apdu.Command{}, s.fail(fmt.Errorf("%w: DO 87", ErrInvalid))
		}
		p, ok := s.decrypt(d.val[1:])
		if !ok || len(p) == 0 || len(p) > MaxPlainData {
			return apdu.Command{}, s.fail(fmt.Errorf("%w: DO 87 padding", ErrInvalid))
		}
		plain.Data = p
	}
	if d, ok := dos[TagLe]; ok {
		if len(d.val) != 2 {
			return apdu.Command{}, s.fail(fmt.Errorf("%w: DO 97", ErrInvalid))
		}
		ne := int(binary.BigEndian.Uint16(d.val))
		if ne == 0 || ne > MaxPlainData {
			return apdu.Command{}, s.fail(fmt.Errorf("%w: DO 97 Ne %d", ErrInvalid, ne))
		}
		plain.Ne = ne
	}
	return plain, nil
}

// WrapResponse protects a plain response (card side): data into DO 87,
// the status word into DO 99, the MAC into DO 8E; the outer status word
// is 9000.
func (s *Session) WrapResponse(r apdu.Response) (apdu.Response, error) {
	if !s.Alive() {
		return apdu.Response{}, ErrDead
	}
	if len(r.Data) > MaxPlainData {
		return apdu.Response{}, s.fail(fmt.Errorf("sm: response of %d bytes", len(r.Data)))
	}
	s.incSSC()
	var do87 []byte
	if len(r.Data) > 0 {
		do87 = tlv(TagCrypto, append([]byte{padIndISO}, s.encrypt(r.Data)...))
	}
	do99 := tlv(TagSW, []byte{r.SW.SW1(), r.SW.SW2()})
	mac := s.macOver(do87, do99)
	return apdu.Response{Data: bytes.Join([][]byte{do87, do99, tlv(TagMAC, mac)}, nil), SW: apdu.SWOK}, nil
}

// UnwrapResponse checks and decrypts a protected response (host side).
// An outer status word other than 9000 is the card refusing the command
// as a protected APDU (6987/6988: the card killed its session), so the
// host's session dies too; DO 99 and 8E are required.
func (s *Session) UnwrapResponse(r apdu.Response) (apdu.Response, error) {
	if !s.Alive() {
		return apdu.Response{}, ErrDead
	}
	if r.SW != apdu.SWOK {
		return apdu.Response{}, s.fail(fmt.Errorf("%w: card answered %s unprotected", ErrInvalid, r.SW))
	}
	dos, err := parseDOs(r.Data, []byte{TagCrypto, TagSW, TagMAC})
	if err != nil {
		return apdu.Response{}, s.fail(err)
	}
	m, okM := dos[TagMAC]
	st, okS := dos[TagSW]
	if !okM || !okS {
		return apdu.Response{}, s.fail(fmt.Errorf("%w: DO 99 or 8E", ErrMissing))
	}
	s.incSSC()
	want := s.macOver(dos[TagCrypto].raw, st.raw)
	if len(m.val) != MACSize || subtle.ConstantTimeCompare(m.val, want) != 1 {
		return apdu.Response{}, s.fail(fmt.Errorf("%w: MAC", ErrInvalid))
	}
	if len(st.val) != 2 {
		return apdu.Response{}, s.fail(fmt.Errorf("%w: DO 99", ErrInvalid))
	}
	out := apdu.Response{SW: apdu.SW(binary.BigEndian.Uint16(st.val))}
	if d, ok := dos[TagCrypto]; ok {
		if len(d.val) < 1+blockSize || d.val[0] != padIndISO {
			return apdu.Response{}, s.fail(fmt.Errorf("%w: DO 87", ErrInvalid))
		}
		p, ok := s.decrypt(d.val[1:])
		if !ok || len(p) == 0 {
			return apdu.Response{}, s.fail(fmt.Errorf("%w: DO 87 padding", ErrInvalid))
		}
		out.Data = p
	}
	return out, nil
}
