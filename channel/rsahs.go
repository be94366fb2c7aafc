package channel

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"io"

	"github.com/fpemu/fpemu/channel/chanwire"
)

// Parameters of the optee-rsa profile (docs/protocol.md §11.6). Seed 000
// names PBKDF2 over the three randoms without its parameters; these are
// fpemu's.
const (
	// PBKDF2Salt is the PBKDF2 salt (RFC 8018 §5.2).
	PBKDF2Salt = "fpemu channel v1 optee-rsa session key"
	// PBKDF2Iterations is the PBKDF2 iteration count: RFC 8018's
	// recommended minimum. The password is 96 random bytes, so iterations
	// add no strength; they only cost time.
	PBKDF2Iterations = 1000
	// SessionKeySize is the PBKDF2 output: the whole of it is the one
	// AES-256-CBC key the seed describes, used in both directions (no
	// split: records are told apart by the RSA key that signs them).
	SessionKeySize = 32
	// MinRSABits is the smallest RSA modulus accepted for either key.
	MinRSABits      = 2048
	labelRSAConfirm = "fpemu channel v1 optee-rsa confirm\x00"
	labelRSAHybrid  = "fpemu channel v1 optee-rsa hybrid\x00"
)

var (
	oaepOpts = &rsa.OAEPOptions{Hash: crypto.SHA256}
	pssOpts  = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
)

// oaepMax is the longest plaintext one RSA-OAEP-SHA256 block carries
// (PKCS #1 v2.2 §7.1.1: k − 2·hLen − 2).
func oaepMax(pub *rsa.PublicKey) int { return pub.Size() - 2*sha256.Size - 2 }

// sealTo encrypts pt to pub: one RSA-OAEP-SHA256 block if it fits, else
// hybrid — OAEP wraps a fresh AES-256 key and the plaintext is
// AES-256-GCM under it (zero nonce: the key is used once; the label as
// associated data).
func sealTo(r io.Reader, pub *rsa.PublicKey, pt []byte) (chanwire.Sealed, error) {
	if len(pt) <= oaepMax(pub) {
		w, err := rsa.EncryptOAEP(sha256.New(), r, pub, pt, nil)
		if err != nil {
			return chanwire.Sealed{}, fmt.Errorf("%w: OAEP: %v", ErrConfig, err)
		}
		return chanwire.Sealed{Mode: chanwire.SealDirect, Wrapped: w}, nil
	}
	key := make([]byte, 32)
	if _, err := io.ReadFull(r, key); err != nil {
		return chanwire.Sealed{}, fmt.Errorf("%w: randomness: %v", ErrConfig, err)
	}
	w, err := rsa.EncryptOAEP(sha256.New(), r, pub, key, nil)
	if err != nil {
		return chanwire.Sealed{}, fmt.Errorf("%w: OAEP: %v", ErrConfig, err)
	}
	g, _ := newAESGCM(key)
	return chanwire.Sealed{Mode: chanwire.SealHybrid, Wrapped: w, Payload: g.Seal(nil, make([]byte, 12), pt, []byte(labelRSAHybrid))}, nil
}

// openSealed reverses sealTo with the recipient's key (ErrDecrypt).
func openSealed(r io.Reader, key RSAKey, s chanwire.Sealed) ([]byte, error) {
	pt, err := key.Decrypt(r, s.Wrapped, oaepOpts)
	if err != nil {
		return nil, fmt.Errorf("%w: OAEP", ErrDecrypt)
	}
	if s.Mode == chanwire.SealDirect {
		return pt, nil
	}
	if len(pt) != 32 {
		return nil, fmt.Errorf("%w: wrapped key length", ErrDecrypt)
	}
	g, _ := newAESGCM(pt)
	out, err := g.Open(nil, make([]byte, 12), s.Payload, []byte(labelRSAHybrid))
	if err != nil {
		return nil, fmt.Errorf("%w: hybrid payload", ErrDecrypt)
	}
	return out, nil
}

func newAESGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func pssSign(r io.Reader, k crypto.Signer, msg []byte) ([]byte, error) {
	d := sha256.Sum256(msg)
	sig, err := k.Sign(r, d[:], pssOpts)
	if err != nil {
		return nil, fmt.Errorf("%w: RSA-PSS: %v", ErrConfig, err)
	}
	return sig, nil
}

func pssVerify(pub *rsa.PublicKey, msg, sig []byte) bool {
	d := sha256.Sum256(msg)
	return rsa.VerifyPSS(pub, crypto.SHA256, d[:], sig, pssOpts) == nil
}

// sessionKey is PBKDF2-HMAC-SHA256(A‖B‖C, PBKDF2Salt, PBKDF2Iterations,
// SessionKeySize) (RFC 8018 §5.2; seed 000 §5.3).
func sessionKey(a, b, c []byte) []byte {
	k, err := pbkdf2.Key(sha256.New, string(cat(a, b, c)), []byte(PBKDF2Salt), PBKDF2Iterations, SessionKeySize)
	if err != nil {
		panic(err) // only for parameters outside FIPS bounds, which these are not
	}
	return k
}

func confirmSigned(a, b, c, deviceID []byte) []byte {
	return cat([]byte(labelRSAConfirm), a, b, c, deviceID)
}

type rsaClientHS struct {
	a [chanwire.RandomSize]byte
}

// rsaClientHello builds RSAHello: random A, the device id and public key,
// sealed to the pinned server key (seed 000 §5.1).
func rsaClientHello(cfg *ClientConfig) (*rsaClientHS, []byte, error) {
	k := cfg.RSA
	pub, ok := k.Key.Public().(*rsa.PublicKey)
	if !ok || pub.N.BitLen() < MinRSABits || k.ServerKey.N.BitLen() < MinRSABits {
		return nil, nil, fmt.Errorf("%w: RSA keys must be at least %d bits", ErrConfig, MinRSABits)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: device key: %v", ErrConfig, err)
	}
	hs := &rsaClientHS{}
	if hs.a, err = random32(cfg.Rand); err != nil {
		return nil, nil, err
	}
	plain := chanwire.RSAHelloPlain{RandomA: hs.a, DeviceID: k.DeviceID, DeviceKey: der}
	pt, err := plain.Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	m := chanwire.RSAHello{}
	if m.Sealed, err = sealTo(cfg.Rand, k.ServerKey, pt); err != nil {
		return nil, nil, err
	}
	out, err := m.Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return hs, out, nil
}

// response checks RSAResponse — decodes; the server's signature over the
// header and sealed field, checked before anything is decrypted
// (ErrSignature); the sealed field opens with the device key and echoes
// A (ErrDecrypt) — and returns RSAConfirm and the session.
func (hs *rsaClientHS) response(cfg *ClientConfig, msg []byte) ([]byte, *session, error) {
	m, err := chanwire.ParseRSAResponse(msg)
	if err != nil {
		return nil, nil, parseErr(msg, err)
	}
	signed, _ := m.SignedPart()
	if !pssVerify(cfg.RSA.ServerKey, signed, m.Signature) {
		return nil, nil, ErrSignature
	}
	pt, err := openSealed(cfg.Rand, cfg.RSA.Key, m.Sealed)
	if err != nil {
		return nil, nil, err
	}
	plain, err := chanwire.ParseRSAResponsePlain(pt)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if subtle.ConstantTimeCompare(plain.RandomA[:], hs.a[:]) != 1 {
		return nil, nil, fmt.Errorf("%w: echoed random A differs", ErrDecrypt)
	}
	c, err := random32(cfg.Rand)
	if err != nil {
		return nil, nil, err
	}
	sig, err := pssSign(cfg.Rand, cfg.RSA.Key, confirmSigned(hs.a[:], plain.RandomB[:], c[:], cfg.RSA.DeviceID))
	if err != nil {
		return nil, nil, err
	}
	cp := chanwire.RSAConfirmPlain{RandomC: c, Signature: sig}
	cpt, err := cp.Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	conf := chanwire.RSAConfirm{}
	if conf.Sealed, err = sealTo(cfg.Rand, cfg.RSA.ServerKey, cpt); err != nil {
		return nil, nil, err
	}
	out, err := conf.Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	key := sessionKey(hs.a[:], plain.RandomB[:], c[:])
	return out, rsaSession(key, true, cfg.Rand, cfg.RSA.Key, cfg.RSA.ServerKey), nil
}

type rsaServerHS struct {
	a, b     [chanwire.RandomSize]byte
	deviceID []byte
	device   *rsa.PublicKey
}

// rsaServerHello checks RSAHello — decodes; opens with the server key
// (ErrDecrypt); plaintext decodes (ErrMalformed); the device key is RSA
// of at least MinRSABits (ErrCertificate); the registry accepts it
// (ErrIdentity) — and builds RSAResponse.
func rsaServerHello(cfg *ServerConfig, msg []byte) (*rsaServerHS, []byte, error) {
	m, err := chanwire.ParseRSAHello(msg)
	if err != nil {
		return nil, nil, parseErr(msg, err)
	}
	pt, err := openSealed(cfg.Rand, cfg.RSA.Key, m.Sealed)
	if err != nil {
		return nil, nil, err
	}
	plain, err := chanwire.ParseRSAHelloPlain(pt)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	k, err := x509.ParsePKIXPublicKey(plain.DeviceKey)
	pub, ok := k.(*rsa.PublicKey)
	if err != nil || !ok || pub.N.BitLen() < MinRSABits {
		return nil, nil, fmt.Errorf("%w: device key is not RSA of at least %d bits", ErrCertificate, MinRSABits)
	}
	if f := cfg.RSA.VerifyDevice; f != nil {
		if err := f(plain.DeviceID, pub); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrIdentity, err)
		}
	}
	hs := &rsaServerHS{a: plain.RandomA, deviceID: plain.DeviceID, device: pub}
	if hs.b, err = random32(cfg.Rand); err != nil {
		return nil, nil, err
	}
	rp := chanwire.RSAResponsePlain{RandomB: hs.b, RandomA: hs.a}
	rpt, _ := rp.Marshal()
	resp := chanwire.RSAResponse{Signature: make([]byte, cfg.RSA.Key.Public().(*rsa.PublicKey).Size())}
	if resp.Sealed, err = sealTo(cfg.Rand, pub, rpt); err != nil {
		return nil, nil, err
	}
	signed, err := resp.SignedPart()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if resp.Signature, err = pssSign(cfg.Rand, cfg.RSA.Key, signed); err != nil {
		return nil, nil, err
	}
	out, err := resp.Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return hs, out, nil
}

// confirm checks RSAConfirm — decodes; opens with the server key
// (ErrDecrypt); plaintext decodes; the device's signature over
// label‖A‖B‖C‖device id (ErrSignature) — and returns the session.
func (hs *rsaServerHS) confirm(cfg *ServerConfig, msg []byte) (*session, error) {
	m, err := chanwire.ParseRSAConfirm(msg)
	if err != nil {
		return nil, parseErr(msg, err)
	}
	pt, err := openSealed(cfg.Rand, cfg.RSA.Key, m.Sealed)
	if err != nil {
		return nil, err
	}
	plain, err := chanwire.ParseRSAConfirmPlain(pt)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if !pssVerify(hs.device, confirmSigned(hs.a[:], hs.b[:], plain.RandomC[:], hs.deviceID), plain.Signature) {
		return nil, ErrSignature
	}
	key := sessionKey(hs.a[:], hs.b[:], plain.RandomC[:])
	return rsaSession(key, false, cfg.Rand, cfg.RSA.Key, hs.device), nil
}

// rsaDir is one direction of optee-rsa records: AES-256-CBC with PKCS #7
// padding and a fresh random IV, then RSA-PSS-SHA256 by the sender over
// the record's header, sequence number, IV and ciphertext (seed 000 §5.4:
// encrypt, then sign; fpemu adds the sequence number under the
// signature). The receiver verifies before it decrypts, so padding errors
// are never observable without a valid signature.
type rsaDir struct {
	block  cipher.Block
	rand   io.Reader
	signer crypto.Signer  // send side
	peer   *rsa.PublicKey // receive side
}

func rsaSession(key []byte, client bool, r io.Reader, own RSAKey, peer *rsa.PublicKey) *session {
	b, _ := aes.NewCipher(key)
	return &session{profile: chanwire.ProfileOpteeRSA, client: client, rand: r,
		send: &rsaDir{block: b, rand: r, signer: own}, recv: &rsaDir{block: b, rand: r, peer: peer}}
}

func (d *rsaDir) seal(seq uint64, pt []byte) ([]byte, error) {
	pad := aes.BlockSize - len(pt)%aes.BlockSize
	buf := make([]byte, len(pt)+pad)
	copy(buf, pt)
	for i := len(pt); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	iv := make([]byte, aes.BlockSize)
	if _, err := io.ReadFull(d.rand, iv); err != nil {
		return nil, fmt.Errorf("%w: randomness: %v", ErrConfig, err)
	}
	cipher.NewCBCEncrypter(d.block, iv).CryptBlocks(buf, buf)
	rec := chanwire.Record{Profile: chanwire.ProfileOpteeRSA, Seq: seq, IV: iv, Ciphertext: buf,
		Signature: make([]byte, d.signer.Public().(*rsa.PublicKey).Size())}
	signed, err := rec.SignedPart()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if rec.Signature, err = pssSign(d.rand, d.signer, signed); err != nil {
		return nil, err
	}
	out, err := rec.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return out, nil
}

func (d *rsaDir) open(rec chanwire.Record) ([]byte, error) {
	signed, err := rec.SignedPart()
	if err != nil || !pssVerify(d.peer, signed, rec.Signature) {
		return nil, ErrRecordAuth
	}
	buf := make([]byte, len(rec.Ciphertext))
	cipher.NewCBCDecrypter(d.block, rec.IV).CryptBlocks(buf, rec.Ciphertext)
	// constant-time PKCS #7 unpadding
	n := len(buf)
	pad := int(buf[n-1])
	good := subtle.ConstantTimeLessOrEq(1, pad) & subtle.ConstantTimeLessOrEq(pad, aes.BlockSize)
	for i := 0; i < aes.BlockSize; i++ {
		inPad := subtle.ConstantTimeLessOrEq(i+1, pad)
		good &= subtle.ConstantTimeSelect(inPad, subtle.ConstantTimeByteEq(buf[n-1-i], byte(pad)), 1)
	}
	if good != 1 {
		return nil, ErrRecordAuth
	}
	return buf[:n-pad], nil
}
