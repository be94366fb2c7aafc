package chanwire

// Field sizes and maxima of the SM2 profiles (docs/protocol.md §11.3).
const (
	// RandomSize is the length of every handshake random.
	RandomSize = 32
	// PointSize is an uncompressed SM2 point: 0x04 ‖ x(32) ‖ y(32).
	PointSize = 65
	// MaxCert bounds one DER certificate. fpemu's SM2 certificates are
	// about 500 bytes; 2048 leaves room for names and extensions.
	MaxCert = 2048
	// MinSM2Sig and MaxSM2Sig bound an ASN.1 SM2 signature
	// SEQUENCE{INTEGER r, INTEGER s} (GM/T 0009): at most 2+2·(2+33) = 72.
	MinSM2Sig = 8
	MaxSM2Sig = 72
	// ConfirmSize is the length of S_A / S_B (an SM3 digest, GB/T 32918.3).
	ConfirmSize = 32
	// FinishedSize is the length of a Finished MAC (HMAC-SM3).
	FinishedSize = 32
	// MaxOffered bounds the offered profile list: each known profile once.
	MaxOffered = 3
)

// sm2Sizes are the exact lengths of the per-profile fields of the SM2
// handshake messages: gm carries none of them, gm-fs all.
func sm2Sizes(p Profile) (eph, confirm, finished int) {
	if p == ProfileGMFS {
		return PointSize, ConfirmSize, FinishedSize
	}
	return 0, 0, 0
}

// ClientHello is the device's first message in gm and gm-fs.
//
//	offered     u8 count ‖ count × profile(1)   1..MaxOffered, distinct, known, contains Profile
//	random      32
//	ephemeral   u8 len ‖ point                  gm-fs: 65 (R_A); gm: 0
//	sign_cert   u16 len ‖ DER                   1..MaxCert
//	enc_cert    u16 len ‖ DER                   1..MaxCert
type ClientHello struct {
	Profile   Profile // the header's profile: what the device proposes
	Offered   []Profile
	Random    [RandomSize]byte
	Ephemeral []byte
	SignCert  []byte
	EncCert   []byte
}

// Marshal returns the canonical message bytes (header and body).
func (m *ClientHello) Marshal() ([]byte, error) {
	const name = "ClientHello"
	if m.Profile != ProfileGM && m.Profile != ProfileGMFS {
		return nil, ferr(name, "profile", ErrUnknownProfile, "%s", m.Profile)
	}
	if err := checkOffered(name, m.Profile, m.Offered); err != nil {
		return nil, err
	}
	eph, _, _ := sm2Sizes(m.Profile)
	w := writer{msg: name}
	offered := make([]byte, len(m.Offered))
	for i, p := range m.Offered {
		offered[i] = byte(p)
	}
	w.vec("offered", 1, 1, MaxOffered, offered)
	w.raw(m.Random[:])
	w.vec("ephemeral", 1, eph, eph, m.Ephemeral)
	w.vec("sign_cert", 2, 1, MaxCert, m.SignCert)
	w.vec("enc_cert", 2, 1, MaxCert, m.EncCert)
	if w.err != nil {
		return nil, w.err
	}
	return frame(m.Profile, TypeClientHello, w.b)
}

// ParseClientHello decodes a ClientHello; see the type for the rules.
func ParseClientHello(b []byte) (ClientHello, error) {
	const name = "ClientHello"
	h, body, err := expect(b, TypeClientHello)
	if err != nil {
		return ClientHello{}, err
	}
	eph, _, _ := sm2Sizes(h.Profile)
	r := reader{msg: name, b: body}
	m := ClientHello{Profile: h.Profile}
	for _, p := range r.vec("offered", 1, 1, MaxOffered) {
		m.Offered = append(m.Offered, Profile(p))
	}
	r.fixed("random", m.Random[:])
	m.Ephemeral = r.vec("ephemeral", 1, eph, eph)
	m.SignCert = r.vec("sign_cert", 2, 1, MaxCert)
	m.EncCert = r.vec("enc_cert", 2, 1, MaxCert)
	if err := r.done(); err != nil {
		return ClientHello{}, err
	}
	if err := checkOffered(name, m.Profile, m.Offered); err != nil {
		return ClientHello{}, err
	}
	return m, nil
}

// checkOffered enforces the offered-list rule: 1..MaxOffered known,
// distinct profiles that include the proposed one.
func checkOffered(name string, proposed Profile, offered []Profile) error {
	if len(offered) == 0 || len(offered) > MaxOffered {
		return ferr(name, "offered", ErrLength, "%d profiles", len(offered))
	}
	seen := map[Profile]bool{}
	for _, p := range offered {
		if !p.Known() || seen[p] {
			return ferr(name, "offered", ErrField, "unknown or repeated profile %d", uint8(p))
		}
		seen[p] = true
	}
	if !seen[proposed] {
		return ferr(name, "offered", ErrField, "does not contain the proposed %s", proposed)
	}
	return nil
}

// ServerHello is the server's only handshake message in gm and gm-fs.
//
//	random      32
//	ephemeral   u8 len ‖ point     gm-fs: 65 (R_B); gm: 0
//	sign_cert   u16 len ‖ DER      1..MaxCert
//	enc_cert    u16 len ‖ DER      1..MaxCert
//	confirm     u8 len ‖ S_B       gm-fs: 32; gm: 0
//	signature   u8 len ‖ ASN.1     MinSM2Sig..MaxSM2Sig
//	finished    u8 len ‖ MAC       gm-fs: 32; gm: 0
type ServerHello struct {
	Profile   Profile
	Random    [RandomSize]byte
	Ephemeral []byte
	SignCert  []byte
	EncCert   []byte
	Confirm   []byte
	Signature []byte
	Finished  []byte
}

// SignedPart returns the body of m up to and including confirm: the part
// of the ServerHello that gm-fs puts in the transcript hash the server
// signs (docs/protocol.md §11.4).
func (m *ServerHello) SignedPart() ([]byte, error) { return m.body(false) }

// MACedPart returns the body of m up to and including the signature: the
// part of the ServerHello under the server's Finished MAC.
func (m *ServerHello) MACedPart() ([]byte, error) { return m.body(true) }

func (m *ServerHello) body(withSig bool) ([]byte, error) {
	const name = "ServerHello"
	if m.Profile != ProfileGM && m.Profile != ProfileGMFS {
		return nil, ferr(name, "profile", ErrUnknownProfile, "%s", m.Profile)
	}
	eph, conf, _ := sm2Sizes(m.Profile)
	w := writer{msg: name}
	w.raw(m.Random[:])
	w.vec("ephemeral", 1, eph, eph, m.Ephemeral)
	w.vec("sign_cert", 2, 1, MaxCert, m.SignCert)
	w.vec("enc_cert", 2, 1, MaxCert, m.EncCert)
	w.vec("confirm", 1, conf, conf, m.Confirm)
	if withSig {
		w.vec("signature", 1, MinSM2Sig, MaxSM2Sig, m.Signature)
	}
	return w.b, w.err
}

// Marshal returns the canonical message bytes.
func (m *ServerHello) Marshal() ([]byte, error) {
	b, err := m.body(true)
	if err != nil {
		return nil, err
	}
	_, _, fin := sm2Sizes(m.Profile)
	w := writer{msg: "ServerHello", b: b}
	w.vec("finished", 1, fin, fin, m.Finished)
	if w.err != nil {
		return nil, w.err
	}
	return frame(m.Profile, TypeServerHello, w.b)
}

// ParseServerHello decodes a ServerHello; see the type for the rules.
func ParseServerHello(b []byte) (ServerHello, error) {
	const name = "ServerHello"
	h, body, err := expect(b, TypeServerHello)
	if err != nil {
		return ServerHello{}, err
	}
	eph, conf, fin := sm2Sizes(h.Profile)
	r := reader{msg: name, b: body}
	m := ServerHello{Profile: h.Profile}
	r.fixed("random", m.Random[:])
	m.Ephemeral = r.vec("ephemeral", 1, eph, eph)
	m.SignCert = r.vec("sign_cert", 2, 1, MaxCert)
	m.EncCert = r.vec("enc_cert", 2, 1, MaxCert)
	m.Confirm = r.vec("confirm", 1, conf, conf)
	m.Signature = r.vec("signature", 1, MinSM2Sig, MaxSM2Sig)
	m.Finished = r.vec("finished", 1, fin, fin)
	if err := r.done(); err != nil {
		return ServerHello{}, err
	}
	return m, nil
}

// ClientFinished is the device's last handshake message in gm and gm-fs.
//
//	confirm     u8 len ‖ S_A       gm-fs: 32; gm: 0
//	signature   u8 len ‖ ASN.1     MinSM2Sig..MaxSM2Sig
//	finished    u8 len ‖ MAC       gm-fs: 32; gm: 0
type ClientFinished struct {
	Profile   Profile
	Confirm   []byte
	Signature []byte
	Finished  []byte
}

// SignedPart returns the body of m up to and including confirm (under the
// device's gm-fs signature, after the whole ServerHello).
func (m *ClientFinished) SignedPart() ([]byte, error) { return m.body(false) }

// MACedPart returns the body of m up to and including the signature
// (under the device's Finished MAC).
func (m *ClientFinished) MACedPart() ([]byte, error) { return m.body(true) }

func (m *ClientFinished) body(withSig bool) ([]byte, error) {
	const name = "ClientFinished"
	if m.Profile != ProfileGM && m.Profile != ProfileGMFS {
		return nil, ferr(name, "profile", ErrUnknownProfile, "%s", m.Profile)
	}
	_, conf, _ := sm2Sizes(m.Profile)
	w := writer{msg: name}
	w.vec("confirm", 1, conf, conf, m.Confirm)
	if withSig {
		w.vec("signature", 1, MinSM2Sig, MaxSM2Sig, m.Signature)
	}
	return w.b, w.err
}

// Marshal returns the canonical message bytes.
func (m *ClientFinished) Marshal() ([]byte, error) {
	b, err := m.body(true)
	if err != nil {
		return nil, err
	}
	_, _, fin := sm2Sizes(m.Profile)
	w := writer{msg: "ClientFinished", b: b}
	w.vec("finished", 1, fin, fin, m.Finished)
	if w.err != nil {
		return nil, w.err
	}
	return frame(m.Profile, TypeClientFinished, w.b)
}

// ParseClientFinished decodes a ClientFinished; see the type for the rules.
func ParseClientFinished(b []byte) (ClientFinished, error) {
	const name = "ClientFinished"
	h, body, err := expect(b, TypeClientFinished)
	if err != nil {
		return ClientFinished{}, err
	}
	_, conf, fin := sm2Sizes(h.Profile)
	r := reader{msg: name, b: body}
	m := ClientFinished{Profile: h.Profile}
	m.Confirm = r.vec("confirm", 1, conf, conf)
	m.Signature = r.vec("signature", 1, MinSM2Sig, MaxSM2Sig)
	m.Finished = r.vec("finished", 1, fin, fin)
	if err := r.done(); err != nil {
		return ClientFinished{}, err
	}
	return m, nil
}
