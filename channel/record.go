package channel

import (
	"crypto"
	"crypto/cipher"
	"crypto/ecdsa"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm4"

	"github.com/fpemu/fpemu/channel/chanwire"
)

// protector seals and opens one direction's records.
type protector interface {
	// seal returns the marshalled record of seq carrying plaintext.
	seal(seq uint64, plaintext []byte) ([]byte, error)
	// open authenticates and decrypts rec; any failure is ErrRecordAuth.
	open(rec chanwire.Record) ([]byte, error)
}

// gcmDir is one direction of an SM2-profile record layer: SM4-GCM with a
// per-record nonce iv XOR seq (RFC 8446 §5.3) and the record header and
// sequence number as associated data. Its scratch buffers make it
// single-goroutine, as the session is.
type gcmDir struct {
	profile chanwire.Profile
	aead    cipher.AEAD
	iv      [gcmIVSize]byte
	nonceB  [gcmIVSize]byte
	aadB    [chanwire.HeaderSize + 8]byte
}

func newGCMDir(p chanwire.Profile, key, iv []byte) (*gcmDir, error) {
	b, err := sm4.NewCipher(key)
	if err != nil {
		return nil, err
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	d := &gcmDir{profile: p, aead: a}
	copy(d.iv[:], iv)
	return d, nil
}

func (d *gcmDir) nonce(seq uint64) []byte {
	d.nonceB = d.iv
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], seq)
	for i := range s {
		d.nonceB[4+i] ^= s[i]
	}
	return d.nonceB[:]
}

// seal writes header ‖ seq ‖ SM4-GCM(plaintext) into one buffer: the
// first HeaderSize+8 bytes are also the associated data.
func (d *gcmDir) seal(seq uint64, pt []byte) ([]byte, error) {
	if len(pt) > chanwire.MaxPlaintext {
		return nil, fmt.Errorf("%w: plaintext %d > %d", ErrMalformed, len(pt), chanwire.MaxPlaintext)
	}
	aad := chanwire.AppendRecordAAD(d.aadB[:0], d.profile, seq, len(pt)+chanwire.GCMTag)
	out := make([]byte, len(aad), len(aad)+len(pt)+chanwire.GCMTag)
	copy(out, aad)
	return d.aead.Seal(out, d.nonce(seq), pt, aad), nil
}

func (d *gcmDir) open(rec chanwire.Record) ([]byte, error) {
	aad := chanwire.AppendRecordAAD(d.aadB[:0], rec.Profile, rec.Seq, len(rec.Ciphertext))
	pt, err := d.aead.Open(nil, d.nonce(rec.Seq), rec.Ciphertext, aad)
	if err != nil {
		return nil, ErrRecordAuth
	}
	return pt, nil
}

// session is an established channel: the two directions, the sequence
// numbers, and how application messages are signed.
type session struct {
	profile          chanwire.Profile
	send, recv       protector
	sendSeq, recvSeq uint64
	// SM2 profiles: the application message carries the sender's SM2
	// signature (seed 001 §4.2); optee-rsa: the record carries it.
	signer   crypto.Signer
	peerSign *ecdsa.PublicKey
	rand     io.Reader
	client   bool
	binding  []byte // gm-fs: the final transcript hash
}

// appSigned returns what the sender of an application message signs: the
// content itself (gm, seed 001 as written), or, in gm-fs, a label naming
// the direction, the sequence number and the channel binding (the final
// transcript hash) before it, so a signed message cannot be lifted into
// another session, direction or position.
func (s *session) appSigned(fromClient bool, seq uint64, content []byte) []byte {
	if s.profile != chanwire.ProfileGMFS {
		return content
	}
	label := labelAppS2C
	if fromClient {
		label = labelAppC2S
	}
	var q [8]byte
	binary.BigEndian.PutUint64(q[:], seq)
	return cat([]byte(label), q[:], s.binding, content)
}

func (s *session) seal(m chanwire.AppMessage) ([]byte, error) {
	if s.sendSeq == math.MaxUint64 {
		return nil, ErrExhausted
	}
	seq := s.sendSeq
	content, err := m.Content()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	out := chanwire.AppMessage{DeviceID: m.DeviceID, UserID: m.UserID, Custom: m.Custom}
	if s.signer != nil {
		sig, err := s.signer.Sign(s.rand, s.appSigned(s.client, seq, content), sm2.DefaultSM2SignerOpts)
		if err != nil {
			return nil, fmt.Errorf("%w: signing: %v", ErrConfig, err)
		}
		out.Signature = sig
	}
	pt, err := out.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	b, err := s.send.seal(seq, pt)
	if err != nil {
		return nil, err
	}
	s.sendSeq++
	return b, nil
}

// open checks, in order: the record decodes and is of this profile; its
// sequence number is the next expected (ErrSequence: replay, reorder,
// drop); it authenticates under the peer's direction key (ErrRecordAuth:
// tampering, another session, reflection); its plaintext is an
// application message; its signature verifies under the peer's signing
// key (ErrAppSignature).
func (s *session) open(b []byte) (chanwire.AppMessage, error) {
	rec, err := chanwire.ParseRecordShared(b)
	if err != nil {
		if h, herr := chanwire.ParseHeader(b); herr == nil && h.Type != chanwire.TypeRecord {
			return chanwire.AppMessage{}, fmt.Errorf("%w: %s after the handshake", ErrUnexpectedMessage, h.Type)
		}
		return chanwire.AppMessage{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if rec.Profile != s.profile {
		return chanwire.AppMessage{}, fmt.Errorf("%w: record of %s in a %s session", ErrProfile, rec.Profile, s.profile)
	}
	if s.recvSeq == math.MaxUint64 {
		return chanwire.AppMessage{}, ErrExhausted
	}
	if rec.Seq != s.recvSeq {
		return chanwire.AppMessage{}, fmt.Errorf("%w: got %d, want %d", ErrSequence, rec.Seq, s.recvSeq)
	}
	pt, err := s.recv.open(rec)
	if err != nil {
		return chanwire.AppMessage{}, err
	}
	m, err := chanwire.ParseAppMessage(pt)
	if err != nil {
		return chanwire.AppMessage{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if s.peerSign != nil {
		content, _ := m.Content()
		if len(m.Signature) == 0 || !sm2.VerifyASN1WithSM2(s.peerSign, nil, s.appSigned(!s.client, rec.Seq, content), m.Signature) {
			return chanwire.AppMessage{}, ErrAppSignature
		}
	} else if len(m.Signature) != 0 {
		return chanwire.AppMessage{}, fmt.Errorf("%w: optee-rsa application message carries a signature TLV", ErrMalformed)
	}
	s.recvSeq++
	return m, nil
}

// endpoint is what Client and Server share: whether it is dead and the
// established session.
type endpoint struct {
	dead bool
	sess *session
}

// fail kills the endpoint: it forgets the session and every handshake
// secret, and returns err to this one caller. err is not kept: every
// later call gets a bare ErrDead (see the package doc: a failure's detail
// goes only to the caller that caused it).
func (e *endpoint) fail(err error) error {
	e.dead = true
	e.sess = nil
	return err
}

func (e *endpoint) alive() error {
	if e.dead {
		return ErrDead
	}
	return nil
}

// Seal signs (SM2 profiles) and encrypts one application message into a
// record. The caller's DeviceID, UserID and Custom are sent; a Signature
// in m is ignored (the endpoint signs).
func (e *endpoint) Seal(m chanwire.AppMessage) ([]byte, error) {
	if err := e.alive(); err != nil {
		return nil, err
	}
	if e.sess == nil {
		return nil, e.fail(ErrNotEstablished)
	}
	b, err := e.sess.seal(m)
	if err != nil {
		return nil, e.fail(err)
	}
	return b, nil
}

// OpenRecord authenticates, decrypts and verifies one record from the
// peer and returns its application message (see session.open for the
// order of the checks).
func (e *endpoint) OpenRecord(b []byte) (chanwire.AppMessage, error) {
	if err := e.alive(); err != nil {
		return chanwire.AppMessage{}, err
	}
	if e.sess == nil {
		return chanwire.AppMessage{}, e.fail(ErrNotEstablished)
	}
	m, err := e.sess.open(b)
	if err != nil {
		return chanwire.AppMessage{}, e.fail(err)
	}
	return m, nil
}

// Established reports whether the handshake finished and no error since.
func (e *endpoint) Established() bool { return !e.dead && e.sess != nil }
