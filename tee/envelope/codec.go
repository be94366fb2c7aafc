package envelope

import (
	"encoding/binary"
	"fmt"

	"github.com/fpemu/fpemu/tee"
)

// Wire constants of envelope version 1.
const (
	// Version is the only envelope version this package emits or accepts.
	Version uint8 = 1
	// NonceSize is the GCM nonce length (NIST SP 800-38D §5.2.1.1: 96-bit
	// IVs are the recommended, counter-mode-direct case).
	NonceSize = 12
	// TagSize is the GCM tag length (full 128-bit tag, SP 800-38D §5.2.1.2).
	TagSize = 16
	// HeaderSize is the length of the header, which is also the associated
	// data: version, sender, recipient, type, sequence, nonce, payload length.
	HeaderSize = 1 + 16 + 16 + 4 + 8 + NonceSize + 4
	// Overhead is the envelope length minus the payload length.
	Overhead = HeaderSize + TagSize
	// MaxPayload bounds the plaintext of one envelope. The largest fpemu
	// payload (a finger list) is far smaller; the bound keeps an envelope
	// well inside one CA→TA memref.
	MaxPayload = 16 << 10
	// MaxSize is the largest well-formed envelope.
	MaxSize = MaxPayload + Overhead
)

// Header offsets.
const (
	offVersion = 0
	offFrom    = 1
	offTo      = 17
	offType    = 33
	offSeq     = 37
	offNonce   = 45
	offLen     = 57
)

// Header is the clear, authenticated part of an envelope.
type Header struct {
	// Version is the envelope version; Marshal and Parse accept only
	// Version.
	Version uint8
	// From is the sending TA, To the one TA that may open the envelope.
	From, To tee.UUID
	// Type says what the payload is (see MsgType).
	Type MsgType
	// Seq is the sender's sequence number on this route, never zero.
	Seq uint64
	// Nonce is the GCM nonce, random per envelope.
	Nonce [NonceSize]byte
}

// Envelope is a parsed envelope: its header and the SM4-GCM output
// (ciphertext followed by the tag). The payload length on the wire is
// len(Sealed) - TagSize.
type Envelope struct {
	Header
	Sealed []byte
}

// Route returns the sender → recipient pair of the header.
func (h *Header) Route() tee.Route { return tee.Route{From: h.From, To: h.To} }

// check validates the fields the wire format constrains.
func (h *Header) check(payloadLen int) error {
	if h.Version != Version {
		return fmt.Errorf("%w: version %d, want %d", ErrMalformed, h.Version, Version)
	}
	if h.Seq == 0 {
		return fmt.Errorf("%w: sequence number 0", ErrMalformed)
	}
	if payloadLen < 0 || payloadLen > MaxPayload {
		return fmt.Errorf("%w: payload length %d outside 0..%d", ErrMalformed, payloadLen, MaxPayload)
	}
	return nil
}

// appendHeader appends the canonical header bytes for a payload of
// payloadLen bytes. It is the only serializer of the header: Marshal, the
// associated data at Seal and the associated data at Open all come from it
// (docs/architecture.md rule 4).
func appendHeader(dst []byte, h *Header, payloadLen int) []byte {
	dst = append(dst, h.Version)
	dst = append(dst, h.From[:]...)
	dst = append(dst, h.To[:]...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.Type))
	dst = binary.BigEndian.AppendUint64(dst, h.Seq)
	dst = append(dst, h.Nonce[:]...)
	return binary.BigEndian.AppendUint32(dst, uint32(payloadLen))
}

// AssociatedData returns the canonical header bytes of e — the AEAD
// associated data — or ErrMalformed if e cannot be encoded.
func (e Envelope) AssociatedData() ([]byte, error) {
	n := len(e.Sealed) - TagSize
	if len(e.Sealed) < TagSize {
		return nil, fmt.Errorf("%w: sealed part of %d bytes is shorter than the tag", ErrMalformed, len(e.Sealed))
	}
	if err := e.check(n); err != nil {
		return nil, err
	}
	return appendHeader(make([]byte, 0, HeaderSize), &e.Header, n), nil
}

// Marshal returns the wire bytes of e: the header then Sealed.
func (e Envelope) Marshal() ([]byte, error) {
	ad, err := e.AssociatedData()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(ad)+len(e.Sealed))
	out = append(out, ad...)
	return append(out, e.Sealed...), nil
}

// Parse decodes b strictly: the version must be Version, the sequence
// number non-zero, the payload length at most MaxPayload, and len(b) exactly
// Overhead plus the payload length (no trailing bytes). On error it returns
// the zero Envelope and an error wrapping ErrMalformed. The returned Sealed
// is a copy; b is not retained.
//
// Parse checks structure only; it says nothing about authenticity.
func Parse(b []byte) (Envelope, error) {
	e, err := parse(b)
	if err != nil {
		return Envelope{}, err
	}
	e.Sealed = append([]byte(nil), e.Sealed...)
	return e, nil
}

// parse is Parse without the copy: Sealed aliases b.
func parse(b []byte) (Envelope, error) {
	if len(b) < Overhead {
		return Envelope{}, fmt.Errorf("%w: %d bytes, shorter than the %d-byte minimum", ErrMalformed, len(b), Overhead)
	}
	var h Header
	h.Version = b[offVersion]
	copy(h.From[:], b[offFrom:offTo])
	copy(h.To[:], b[offTo:offType])
	h.Type = MsgType(binary.BigEndian.Uint32(b[offType:offSeq]))
	h.Seq = binary.BigEndian.Uint64(b[offSeq:offNonce])
	copy(h.Nonce[:], b[offNonce:offLen])
	n := binary.BigEndian.Uint32(b[offLen:HeaderSize])
	if n > MaxPayload {
		return Envelope{}, fmt.Errorf("%w: payload length %d over %d", ErrMalformed, n, MaxPayload)
	}
	if err := h.check(int(n)); err != nil {
		return Envelope{}, err
	}
	if want := Overhead + int(n); len(b) != want {
		return Envelope{}, fmt.Errorf("%w: %d bytes, header says %d", ErrMalformed, len(b), want)
	}
	return Envelope{Header: h, Sealed: b[HeaderSize:]}, nil
}
