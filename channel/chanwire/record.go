package chanwire

import "encoding/binary"

// Record limits (docs/protocol.md §11.7).
const (
	// MaxPlaintext bounds the plaintext of one record (TLS's 2^14).
	MaxPlaintext = 16 * 1024
	// GCMTag is the SM4-GCM tag length.
	GCMTag = 16
	// IVSize is the AES-CBC IV of an optee-rsa record.
	IVSize = 16
	// MaxCBC is the largest optee-rsa ciphertext: MaxPlaintext padded
	// (PKCS #7, at least one byte) to the next 16-byte block.
	MaxCBC = MaxPlaintext + 16
)

// Record carries one application message after the handshake.
//
//	gm, gm-fs:  seq u64 ‖ ciphertext (the rest of the body: GCMTag..MaxPlaintext+GCMTag)
//	optee-rsa:  seq u64 ‖ iv(16) ‖ ciphertext u32 len (16..MaxCBC, a multiple of 16)
//	            ‖ signature u16 len (MinRSABlock..MaxRSABlock)
type Record struct {
	Profile    Profile
	Seq        uint64
	IV         []byte // optee-rsa only
	Ciphertext []byte
	Signature  []byte // optee-rsa only
}

// AAD returns the bytes an SM2-profile record authenticates besides its
// ciphertext: the header (with the final length) and the sequence number.
func (m *Record) AAD() []byte { return RecordAAD(m.Profile, m.Seq, len(m.Ciphertext)) }

// RecordAAD is Record.AAD for a record not built yet: profile, sequence
// number and ciphertext length are all it depends on.
func RecordAAD(p Profile, seq uint64, ctLen int) []byte {
	return AppendRecordAAD(make([]byte, 0, HeaderSize+8), p, seq, ctLen)
}

// AppendRecordAAD appends RecordAAD's bytes to dst (no allocation when dst
// has room for HeaderSize+8 bytes).
func AppendRecordAAD(dst []byte, p Profile, seq uint64, ctLen int) []byte {
	dst = append(dst, Version, uint8(p), uint8(TypeRecord))
	dst = binary.BigEndian.AppendUint32(dst, uint32(8+ctLen))
	return binary.BigEndian.AppendUint64(dst, seq)
}

// SignedPart returns the bytes under an optee-rsa record's signature: the
// whole record up to the signature's length prefix (header, seq, iv,
// ciphertext).
func (m *Record) SignedPart() ([]byte, error) {
	full, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	return full[:len(full)-2-len(m.Signature)], nil
}

// Marshal returns the canonical record bytes.
func (m *Record) Marshal() ([]byte, error) {
	const name = "Record"
	w := writer{msg: name}
	w.u64(m.Seq)
	switch m.Profile {
	case ProfileGM, ProfileGMFS:
		if len(m.Ciphertext) < GCMTag || len(m.Ciphertext) > MaxPlaintext+GCMTag {
			return nil, ferr(name, "ciphertext", ErrLength, "%d", len(m.Ciphertext))
		}
		if len(m.IV) != 0 || len(m.Signature) != 0 {
			return nil, ferr(name, "iv", ErrField, "an SM2-profile record has no IV or signature")
		}
		w.raw(m.Ciphertext)
	case ProfileOpteeRSA:
		if len(m.IV) != IVSize {
			return nil, ferr(name, "iv", ErrLength, "%d", len(m.IV))
		}
		w.raw(m.IV)
		if len(m.Ciphertext)%16 != 0 {
			return nil, ferr(name, "ciphertext", ErrLength, "%d not a multiple of 16", len(m.Ciphertext))
		}
		w.vec("ciphertext", 4, 16, MaxCBC, m.Ciphertext)
		w.vec("signature", 2, MinRSABlock, MaxRSABlock, m.Signature)
	default:
		return nil, ferr(name, "profile", ErrUnknownProfile, "%d", uint8(m.Profile))
	}
	if w.err != nil {
		return nil, w.err
	}
	return frame(m.Profile, TypeRecord, w.b)
}

// ParseRecord decodes a record of any profile. The result does not alias b.
func ParseRecord(b []byte) (Record, error) { return parseRecord(b, true) }

// ParseRecordShared is ParseRecord for the record layer's hot path: the
// ciphertext of an SM2-profile record aliases b instead of being copied.
// The rules are the same.
func ParseRecordShared(b []byte) (Record, error) { return parseRecord(b, false) }

func parseRecord(b []byte, copyOut bool) (Record, error) {
	const name = "Record"
	h, body, err := expect(b, TypeRecord)
	if err != nil {
		return Record{}, err
	}
	r := reader{msg: name, b: body}
	m := Record{Profile: h.Profile, Seq: r.u64("seq")}
	switch h.Profile {
	case ProfileGM, ProfileGMFS:
		if r.err == nil && (len(r.b) < GCMTag || len(r.b) > MaxPlaintext+GCMTag) {
			r.fail("ciphertext", ErrLength, "%d", len(r.b))
		}
		if r.err == nil {
			m.Ciphertext = r.b[:len(r.b):len(r.b)]
			if copyOut {
				m.Ciphertext = append([]byte{}, r.b...)
			}
			r.b = nil
		}
	default:
		m.IV = r.take("iv", IVSize)
		if m.IV != nil {
			m.IV = append([]byte{}, m.IV...)
		}
		m.Ciphertext = r.vec("ciphertext", 4, 16, MaxCBC)
		if r.err == nil && len(m.Ciphertext)%16 != 0 {
			r.fail("ciphertext", ErrLength, "%d not a multiple of 16", len(m.Ciphertext))
		}
		m.Signature = r.vec("signature", 2, MinRSABlock, MaxRSABlock)
	}
	if err := r.done(); err != nil {
		return Record{}, err
	}
	return m, nil
}
