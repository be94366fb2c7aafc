package channel

import (
	"crypto/hmac"
	"crypto/subtle"
	"hash"

	"github.com/emmansun/gmsm/ecdh"
	"github.com/emmansun/gmsm/sm3"

	"github.com/fpemu/fpemu/channel/chanwire"
)

// Labels (docs/protocol.md §11.4). Each signature and derivation starts
// with its own NUL-terminated ASCII label, so no signed or derived string
// of one role can be taken for another's.
const (
	labelGMFSServerSig = "fpemu channel v1 gm-fs server signature\x00"
	labelGMFSClientSig = "fpemu channel v1 gm-fs client signature\x00"
	labelGMServerSig   = "fpemu channel v1 gm server signature\x00"
	labelGMClientSig   = "fpemu channel v1 gm client signature\x00"
	labelGMFSKeys      = "fpemu channel v1 gm-fs key expansion\x00"
	labelGMKeys        = "fpemu channel v1 gm key expansion\x00"
	labelAppC2S        = "fpemu channel v1 gm-fs app c2s\x00"
	labelAppS2C        = "fpemu channel v1 gm-fs app s2c\x00"
)

// Sizes of the SM2 key schedule.
const (
	sharedKeySize = 32 // Z: SM2SharedKey output (GB/T 32918.3 KDF, klen 256 bits)
	sm4KeySize    = 16
	gcmIVSize     = 12
	finKeySize    = 32
	keyBlockGM    = 2 * (sm4KeySize + gcmIVSize)
	keyBlockGMFS  = keyBlockGM + 2*finKeySize
)

// sm2Keys is the split key block.
type sm2Keys struct {
	c2sKey, c2sIV, s2cKey, s2cIV []byte
	finC, finS                   []byte // gm-fs only
}

func splitKeyBlock(kb []byte) sm2Keys {
	k := sm2Keys{c2sKey: kb[0:16], c2sIV: kb[16:28], s2cKey: kb[28:44], s2cIV: kb[44:56]}
	if len(kb) >= keyBlockGMFS {
		k.finC, k.finS = kb[56:88], kb[88:120]
	}
	return k
}

// exchange is the result of the GB/T 32918.3 exchange on one side.
type exchange struct {
	z      []byte // shared key Z
	sA, sB []byte // confirmations (gm-fs)
}

// sm2Exchange runs GB/T 32918.3 for the initiator (device, A) or the
// responder (server, B): V = SM2MQV, Z = KDF(xV‖yV‖ZA‖ZB, 256 bits), and
// S_B = SM3(0x02‖yV‖SM3(xV‖ZA‖ZB‖x1‖y1‖x2‖y2)), S_A with 0x03, where
// (x1,y1) = R_A and (x2,y2) = R_B. UIDs are the default
// "1234567812345678" on both sides. eLocal nil: gm, the static keys are
// their own random points.
func sm2Exchange(responder bool, local KeyExchanger, eLocal *ecdh.PrivateKey, sRemote, eRemote *ecdh.PublicKey) (exchange, error) {
	v, err := local.SM2MQV(eLocal, sRemote, eRemote)
	if err != nil {
		return exchange{}, ErrKeyExchange
	}
	sLocal := local.PublicKey()
	z, err := v.SM2SharedKey(responder, sharedKeySize, sLocal, sRemote, nil, nil)
	if err != nil {
		return exchange{}, ErrKeyExchange
	}
	ex := exchange{z: z}
	if eLocal == nil {
		return ex, nil
	}
	za, err := sLocal.SM2ZA(sm3.New(), nil)
	if err != nil {
		return exchange{}, ErrKeyExchange
	}
	zb, err := sRemote.SM2ZA(sm3.New(), nil)
	if err != nil {
		return exchange{}, ErrKeyExchange
	}
	ra, rb := eLocal.PublicKey().Bytes(), eRemote.Bytes()
	if responder {
		za, zb = zb, za
		ra, rb = rb, ra
	}
	vb := v.Bytes() // 0x04 ‖ xV ‖ yV
	xv, yv := vb[1:33], vb[33:65]
	h := sm3.New()
	for _, p := range [][]byte{xv, za, zb, ra[1:], rb[1:]} {
		h.Write(p)
	}
	inner := h.Sum(nil)
	ex.sB = confirm(0x02, yv, inner)
	ex.sA = confirm(0x03, yv, inner)
	return ex, nil
}

func confirm(tag byte, yv, inner []byte) []byte {
	h := sm3.New()
	h.Write([]byte{tag})
	h.Write(yv)
	h.Write(inner)
	return h.Sum(nil)
}

// keyBlock derives the record and Finished keys: SM3-KDF (GB/T 32918.4
// §5.4.3) over Z ‖ label ‖ context, where context is the transcript hash
// through the ServerHello's confirm field (gm-fs) or random_C ‖ random_S
// (gm).
func keyBlock(p chanwire.Profile, z, context []byte) sm2Keys {
	label, n := labelGMKeys, keyBlockGM
	if p == chanwire.ProfileGMFS {
		label, n = labelGMFSKeys, keyBlockGMFS
	}
	in := make([]byte, 0, len(z)+len(label)+len(context))
	in = append(append(append(in, z...), label...), context...)
	return splitKeyBlock(sm3.Kdf(in, n))
}

// transcript is the running SM3 hash of the gm-fs handshake.
type transcript struct{ h hash.Hash }

func newTranscript() transcript { return transcript{sm3.New()} }

func (t transcript) add(parts ...[]byte) {
	for _, p := range parts {
		t.h.Write(p)
	}
}

// sum returns the hash so far without ending the transcript.
func (t transcript) sum() []byte { return t.h.Sum(nil) }

// finishedMAC is HMAC-SM3(key, transcript hash) (RFC 8446 §4.4.4 shape).
func finishedMAC(key, th []byte) []byte {
	m := hmac.New(sm3.New, key)
	m.Write(th)
	return m.Sum(nil)
}

// equal compares MACs and confirmations in constant time.
func equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// identity is the SM3 of a signing certificate's DER: the "identity" gm
// signs (seed 001 §4.1: both sides authenticated by their certificates).
func identity(signDER []byte) []byte {
	s := sm3.Sum(signDER)
	return s[:]
}

func cat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
