package chanwire

// Sizes of the optee-rsa profile (docs/protocol.md §11.6).
const (
	// MinRSABlock and MaxRSABlock bound one RSA ciphertext or signature:
	// RSA-2048 (256 bytes) up to RSA-4096 (512 bytes).
	MinRSABlock = 256
	MaxRSABlock = 512
	// MaxDeviceID bounds a device or user identifier.
	MaxDeviceID = 64
	// MaxPublicKey bounds a PKIX DER public key (RSA-4096 is 550 bytes).
	MaxPublicKey = 1024
	// MinGCM is the shortest AES-GCM ciphertext (the 16-byte tag).
	MinGCM = 16
)

// Sealed-blob modes.
const (
	// SealDirect: the plaintext is one RSA-OAEP block (it fits).
	SealDirect uint8 = 1
	// SealHybrid: RSA-OAEP wraps a fresh AES-256 key; the plaintext is
	// AES-256-GCM under it (used when the plaintext exceeds one block).
	SealHybrid uint8 = 2
)

// Sealed is an optee-rsa payload encrypted to one RSA key.
//
//	mode        1                       SealDirect or SealHybrid
//	wrapped     u16 len ‖ RSA block     MinRSABlock..MaxRSABlock
//	payload     u32 len ‖ AES-GCM       hybrid only: MinGCM..MaxBody
type Sealed struct {
	Mode    uint8
	Wrapped []byte
	Payload []byte
}

func (s *Sealed) write(w *writer) {
	if w.err != nil {
		return
	}
	if s.Mode != SealDirect && s.Mode != SealHybrid {
		w.err = ferr(w.msg, "sealed.mode", ErrField, "%d", s.Mode)
		return
	}
	w.u8(s.Mode)
	w.vec("sealed.wrapped", 2, MinRSABlock, MaxRSABlock, s.Wrapped)
	if s.Mode == SealHybrid {
		w.vec("sealed.payload", 4, MinGCM, MaxBody, s.Payload)
	} else if len(s.Payload) != 0 {
		w.err = ferr(w.msg, "sealed.payload", ErrLength, "direct mode carries no payload")
	}
}

func (r *reader) sealed() Sealed {
	var s Sealed
	s.Mode = uint8(r.u8("sealed.mode"))
	if r.err == nil && s.Mode != SealDirect && s.Mode != SealHybrid {
		r.fail("sealed.mode", ErrField, "%d", s.Mode)
	}
	s.Wrapped = r.vec("sealed.wrapped", 2, MinRSABlock, MaxRSABlock)
	if s.Mode == SealHybrid {
		s.Payload = r.vec("sealed.payload", 4, MinGCM, MaxBody)
	}
	if r.err != nil {
		return Sealed{}
	}
	return s
}

// RSAHello is the device's first optee-rsa message: random A, the device's
// identity and public key, sealed to the pinned server key (seed 000 §5.1).
//
//	sealed      Sealed (of RSAHelloPlain)
type RSAHello struct{ Sealed Sealed }

// Marshal returns the canonical message bytes.
func (m *RSAHello) Marshal() ([]byte, error) {
	w := writer{msg: "RSAHello"}
	m.Sealed.write(&w)
	if w.err != nil {
		return nil, w.err
	}
	return frame(ProfileOpteeRSA, TypeRSAHello, w.b)
}

// ParseRSAHello decodes an RSAHello.
func ParseRSAHello(b []byte) (RSAHello, error) {
	_, body, err := expect(b, TypeRSAHello)
	if err != nil {
		return RSAHello{}, err
	}
	r := reader{msg: "RSAHello", b: body}
	m := RSAHello{Sealed: r.sealed()}
	if err := r.done(); err != nil {
		return RSAHello{}, err
	}
	return m, nil
}

// RSAHelloPlain is the plaintext inside RSAHello.
//
//	random_a    32
//	device_id   u8 len  1..MaxDeviceID
//	device_key  u16 len PKIX DER, 1..MaxPublicKey
type RSAHelloPlain struct {
	RandomA   [RandomSize]byte
	DeviceID  []byte
	DeviceKey []byte
}

// Marshal returns the canonical plaintext bytes (no header).
func (m *RSAHelloPlain) Marshal() ([]byte, error) {
	w := writer{msg: "RSAHelloPlain"}
	w.raw(m.RandomA[:])
	w.vec("device_id", 1, 1, MaxDeviceID, m.DeviceID)
	w.vec("device_key", 2, 1, MaxPublicKey, m.DeviceKey)
	return w.b, w.err
}

// ParseRSAHelloPlain decodes the plaintext of an RSAHello.
func ParseRSAHelloPlain(b []byte) (RSAHelloPlain, error) {
	r := reader{msg: "RSAHelloPlain", b: b}
	var m RSAHelloPlain
	r.fixed("random_a", m.RandomA[:])
	m.DeviceID = r.vec("device_id", 1, 1, MaxDeviceID)
	m.DeviceKey = r.vec("device_key", 2, 1, MaxPublicKey)
	if err := r.done(); err != nil {
		return RSAHelloPlain{}, err
	}
	return m, nil
}

// RSAResponse is the server's optee-rsa message: random B (and A echoed),
// sealed to the device key, and the server's RSA-PSS signature over the
// message's header and sealed field (seed 000 §5.2: "encrypt, then sign
// the ciphertext").
//
//	sealed      Sealed (of RSAResponsePlain)
//	signature   u16 len  MinRSABlock..MaxRSABlock
type RSAResponse struct {
	Sealed    Sealed
	Signature []byte
}

// SignedPart returns the bytes under the server's signature: the header
// (with the final length) and the sealed field.
func (m *RSAResponse) SignedPart() ([]byte, error) {
	full, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	return full[:len(full)-2-len(m.Signature)], nil
}

// Marshal returns the canonical message bytes.
func (m *RSAResponse) Marshal() ([]byte, error) {
	w := writer{msg: "RSAResponse"}
	m.Sealed.write(&w)
	w.vec("signature", 2, MinRSABlock, MaxRSABlock, m.Signature)
	if w.err != nil {
		return nil, w.err
	}
	return frame(ProfileOpteeRSA, TypeRSAResponse, w.b)
}

// ParseRSAResponse decodes an RSAResponse.
func ParseRSAResponse(b []byte) (RSAResponse, error) {
	_, body, err := expect(b, TypeRSAResponse)
	if err != nil {
		return RSAResponse{}, err
	}
	r := reader{msg: "RSAResponse", b: body}
	m := RSAResponse{Sealed: r.sealed()}
	m.Signature = r.vec("signature", 2, MinRSABlock, MaxRSABlock)
	if err := r.done(); err != nil {
		return RSAResponse{}, err
	}
	return m, nil
}

// RSAResponsePlain is the plaintext inside RSAResponse.
//
//	random_b    32
//	random_a    32   (echo of the device's A)
type RSAResponsePlain struct {
	RandomB [RandomSize]byte
	RandomA [RandomSize]byte
}

// Marshal returns the canonical plaintext bytes.
func (m *RSAResponsePlain) Marshal() ([]byte, error) {
	return append(append([]byte{}, m.RandomB[:]...), m.RandomA[:]...), nil
}

// ParseRSAResponsePlain decodes the plaintext of an RSAResponse.
func ParseRSAResponsePlain(b []byte) (RSAResponsePlain, error) {
	r := reader{msg: "RSAResponsePlain", b: b}
	var m RSAResponsePlain
	r.fixed("random_b", m.RandomB[:])
	r.fixed("random_a", m.RandomA[:])
	if err := r.done(); err != nil {
		return RSAResponsePlain{}, err
	}
	return m, nil
}

// RSAConfirm is the device's last optee-rsa message: random C and the
// device's signature, sealed to the server key (seed 000 §5.3: "sign,
// then encrypt").
//
//	sealed      Sealed (of RSAConfirmPlain)
type RSAConfirm struct{ Sealed Sealed }

// Marshal returns the canonical message bytes.
func (m *RSAConfirm) Marshal() ([]byte, error) {
	w := writer{msg: "RSAConfirm"}
	m.Sealed.write(&w)
	if w.err != nil {
		return nil, w.err
	}
	return frame(ProfileOpteeRSA, TypeRSAConfirm, w.b)
}

// ParseRSAConfirm decodes an RSAConfirm.
func ParseRSAConfirm(b []byte) (RSAConfirm, error) {
	_, body, err := expect(b, TypeRSAConfirm)
	if err != nil {
		return RSAConfirm{}, err
	}
	r := reader{msg: "RSAConfirm", b: body}
	m := RSAConfirm{Sealed: r.sealed()}
	if err := r.done(); err != nil {
		return RSAConfirm{}, err
	}
	return m, nil
}

// RSAConfirmPlain is the plaintext inside RSAConfirm.
//
//	random_c    32
//	signature   u16 len  MinRSABlock..MaxRSABlock
type RSAConfirmPlain struct {
	RandomC   [RandomSize]byte
	Signature []byte
}

// Marshal returns the canonical plaintext bytes.
func (m *RSAConfirmPlain) Marshal() ([]byte, error) {
	w := writer{msg: "RSAConfirmPlain"}
	w.raw(m.RandomC[:])
	w.vec("signature", 2, MinRSABlock, MaxRSABlock, m.Signature)
	return w.b, w.err
}

// ParseRSAConfirmPlain decodes the plaintext of an RSAConfirm.
func ParseRSAConfirmPlain(b []byte) (RSAConfirmPlain, error) {
	r := reader{msg: "RSAConfirmPlain", b: b}
	var m RSAConfirmPlain
	r.fixed("random_c", m.RandomC[:])
	m.Signature = r.vec("signature", 2, MinRSABlock, MaxRSABlock)
	if err := r.done(); err != nil {
		return RSAConfirmPlain{}, err
	}
	return m, nil
}
