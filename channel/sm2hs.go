package channel

import (
	"fmt"
	"io"

	"github.com/emmansun/gmsm/ecdh"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"

	"github.com/fpemu/fpemu/channel/chanwire"
)

// generateEphemeral makes a random point's key r (GB/T 32918.3 §6.1
// A1/B1). The vector generator wraps it to record the keys.
var generateEphemeral = func(r io.Reader) (*ecdh.PrivateKey, error) { return ecdh.P256().GenerateKey(r) }

// sm2ClientHS is the device's pending gm/gm-fs handshake after
// ClientHello.
type sm2ClientHS struct {
	ch     []byte // ClientHello as sent
	random [chanwire.RandomSize]byte
	eph    *ecdh.PrivateKey // gm-fs: r_A
}

// sm2ClientHello builds the ClientHello (docs/protocol.md §11.3).
func sm2ClientHello(cfg *ClientConfig) (*sm2ClientHS, []byte, error) {
	hs := &sm2ClientHS{}
	var err error
	if hs.random, err = random32(cfg.Rand); err != nil {
		return nil, nil, err
	}
	m := chanwire.ClientHello{Profile: cfg.Profile, Offered: cfg.Offered, Random: hs.random,
		SignCert: cfg.Credentials.SignCert.Raw, EncCert: cfg.Credentials.EncCert.Raw, Ephemeral: []byte{}}
	if cfg.Profile == chanwire.ProfileGMFS {
		if hs.eph, err = generateEphemeral(cfg.Rand); err != nil {
			return nil, nil, fmt.Errorf("%w: ephemeral key: %v", ErrConfig, err)
		}
		m.Ephemeral = hs.eph.PublicKey().Bytes()
	}
	if hs.ch, err = m.Marshal(); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return hs, hs.ch, nil
}

// serverHello checks the ServerHello and returns the ClientFinished and
// the session. Checks, in order (each its error): decodes
// (ErrMalformed/ErrUnexpectedMessage); server certificates
// (ErrCertificate); server name (ErrIdentity); R_B on the curve
// (ErrKeyExchange); the server's signature (ErrSignature); S_B
// (ErrConfirm); the server's Finished (ErrFinished).
func (hs *sm2ClientHS) serverHello(cfg *ClientConfig, msg []byte) ([]byte, *session, error) {
	sh, err := chanwire.ParseServerHello(msg)
	if err != nil {
		return nil, nil, parseErr(msg, err)
	}
	p, err := verifyPair(sh.SignCert, sh.EncCert, cfg.Roots, cfg.Now())
	if err != nil {
		return nil, nil, err
	}
	if p.sign.Subject.CommonName != cfg.ServerName {
		return nil, nil, fmt.Errorf("%w: server certificate names another server", ErrIdentity)
	}
	cred := cfg.Credentials
	fs := cfg.Profile == chanwire.ProfileGMFS
	eRemote := p.encPub // gm: the static key is its own random point
	if fs {
		if eRemote, err = ecdh.P256().NewPublicKey(sh.Ephemeral); err != nil {
			return nil, nil, fmt.Errorf("%w: R_B is not a curve point", ErrKeyExchange)
		}
	}
	ex, err := sm2Exchange(false, cred.Exchange, hs.eph, p.encPub, eRemote)
	if err != nil {
		return nil, nil, err
	}
	cf := chanwire.ClientFinished{Profile: cfg.Profile, Confirm: []byte{}, Finished: []byte{}}
	var keys sm2Keys
	var binding []byte
	if fs {
		signed, _ := sh.SignedPart()
		maced, _ := sh.MACedPart()
		th := sm3Of(hs.ch, signed)
		if !sm2.VerifyASN1WithSM2(p.signPub, nil, cat([]byte(labelGMFSServerSig), th), sh.Signature) {
			return nil, nil, ErrSignature
		}
		if !equal(ex.sB, sh.Confirm) {
			return nil, nil, ErrConfirm
		}
		keys = keyBlock(cfg.Profile, ex.z, th)
		if !equal(finishedMAC(keys.finS, sm3Of(hs.ch, maced)), sh.Finished) {
			return nil, nil, ErrFinished
		}
		cf.Confirm = ex.sA
		cfSigned, _ := cf.SignedPart()
		if cf.Signature, err = cred.Signer.Sign(cfg.Rand, cat([]byte(labelGMFSClientSig), sm3Of(hs.ch, msg, cfSigned)), sm2.DefaultSM2SignerOpts); err != nil {
			return nil, nil, fmt.Errorf("%w: signing: %v", ErrConfig, err)
		}
		cfMACed, err := cf.MACedPart()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		cf.Finished = finishedMAC(keys.finC, sm3Of(hs.ch, msg, cfMACed))
	} else {
		ids := cat(hs.random[:], sh.Random[:], identity(cred.SignCert.Raw), identity(sh.SignCert))
		if !sm2.VerifyASN1WithSM2(p.signPub, nil, cat([]byte(labelGMServerSig), ids), sh.Signature) {
			return nil, nil, ErrSignature
		}
		keys = keyBlock(cfg.Profile, ex.z, cat(hs.random[:], sh.Random[:]))
		if cf.Signature, err = cred.Signer.Sign(cfg.Rand, cat([]byte(labelGMClientSig), ids), sm2.DefaultSM2SignerOpts); err != nil {
			return nil, nil, fmt.Errorf("%w: signing: %v", ErrConfig, err)
		}
	}
	out, err := cf.Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if fs {
		binding = sm3Of(hs.ch, msg, out)
	}
	sess, err := sm2Session(cfg.Profile, true, keys, cred, p, binding)
	if err != nil {
		return nil, nil, err
	}
	sess.rand = cfg.Rand
	return out, sess, nil
}

func sm2Session(p chanwire.Profile, client bool, keys sm2Keys, cred *SM2Credentials, peer *peer, binding []byte) (*session, error) {
	c2s, err := newGCMDir(p, keys.c2sKey, keys.c2sIV)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	s2c, err := newGCMDir(p, keys.s2cKey, keys.s2cIV)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	s := &session{profile: p, client: client, signer: cred.Signer, peerSign: peer.signPub, binding: binding}
	if client {
		s.send, s.recv = c2s, s2c
	} else {
		s.send, s.recv = s2c, c2s
	}
	return s, nil
}

func sm3Of(parts ...[]byte) []byte {
	h := sm3.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// sm2ServerHS is the server's pending gm/gm-fs handshake after
// ServerHello.
type sm2ServerHS struct {
	profile  chanwire.Profile
	ch, sh   []byte
	ids      []byte // gm: random_C ‖ random_S ‖ id_C ‖ id_S
	peer     *peer
	keys     sm2Keys
	expectSA []byte
}

// sm2ServerHello checks the ClientHello and builds the ServerHello.
// Checks, in order: decodes (ErrMalformed/ErrUnexpectedMessage); the
// proposed profile is the best one both offer (ErrDowngrade); device
// certificates (ErrCertificate); the registry check (ErrIdentity); R_A on
// the curve (ErrKeyExchange).
func sm2ServerHello(cfg *ServerConfig, msg []byte) (*sm2ServerHS, []byte, error) {
	ch, err := chanwire.ParseClientHello(msg)
	if err != nil {
		return nil, nil, parseErr(msg, err)
	}
	if best := bestCommon(cfg.Profiles, ch.Offered); best != ch.Profile {
		return nil, nil, fmt.Errorf("%w: device proposed %s, both offer %s", ErrDowngrade, ch.Profile, best)
	}
	p, err := verifyPair(ch.SignCert, ch.EncCert, cfg.Roots, cfg.Now())
	if err != nil {
		return nil, nil, err
	}
	if cfg.VerifyDevice != nil {
		if err := cfg.VerifyDevice(p.sign, p.enc); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrIdentity, err)
		}
	}
	cred := cfg.Credentials
	fs := ch.Profile == chanwire.ProfileGMFS
	hs := &sm2ServerHS{profile: ch.Profile, ch: msg, peer: p}
	sh := chanwire.ServerHello{Profile: ch.Profile, SignCert: cred.SignCert.Raw, EncCert: cred.EncCert.Raw,
		Ephemeral: []byte{}, Confirm: []byte{}, Finished: []byte{}}
	if sh.Random, err = random32(cfg.Rand); err != nil {
		return nil, nil, err
	}
	var eph *ecdh.PrivateKey
	eRemote := p.encPub
	if fs {
		if eRemote, err = ecdh.P256().NewPublicKey(ch.Ephemeral); err != nil {
			return nil, nil, fmt.Errorf("%w: R_A is not a curve point", ErrKeyExchange)
		}
		if eph, err = generateEphemeral(cfg.Rand); err != nil {
			return nil, nil, fmt.Errorf("%w: ephemeral key: %v", ErrConfig, err)
		}
		sh.Ephemeral = eph.PublicKey().Bytes()
	}
	ex, err := sm2Exchange(true, cred.Exchange, eph, p.encPub, eRemote)
	if err != nil {
		return nil, nil, err
	}
	if fs {
		sh.Confirm = ex.sB
		hs.expectSA = ex.sA
		signed, err := sh.SignedPart()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		th := sm3Of(msg, signed)
		if sh.Signature, err = cred.Signer.Sign(cfg.Rand, cat([]byte(labelGMFSServerSig), th), sm2.DefaultSM2SignerOpts); err != nil {
			return nil, nil, fmt.Errorf("%w: signing: %v", ErrConfig, err)
		}
		hs.keys = keyBlock(ch.Profile, ex.z, th)
		maced, _ := sh.MACedPart()
		sh.Finished = finishedMAC(hs.keys.finS, sm3Of(msg, maced))
	} else {
		hs.ids = cat(ch.Random[:], sh.Random[:], identity(ch.SignCert), identity(cred.SignCert.Raw))
		if sh.Signature, err = cred.Signer.Sign(cfg.Rand, cat([]byte(labelGMServerSig), hs.ids), sm2.DefaultSM2SignerOpts); err != nil {
			return nil, nil, fmt.Errorf("%w: signing: %v", ErrConfig, err)
		}
		hs.keys = keyBlock(ch.Profile, ex.z, cat(ch.Random[:], sh.Random[:]))
	}
	if hs.sh, err = sh.Marshal(); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return hs, hs.sh, nil
}

// bestCommon is the first of the server's profiles (strongest first) that
// the device offers; 0 if none.
func bestCommon(server, offered []chanwire.Profile) chanwire.Profile {
	for _, s := range server {
		for _, o := range offered {
			if s == o {
				return s
			}
		}
	}
	return 0
}

// clientFinished checks the ClientFinished: decodes; the device's
// signature (ErrSignature); S_A (ErrConfirm); the device's Finished
// (ErrFinished).
func (hs *sm2ServerHS) clientFinished(cfg *ServerConfig, msg []byte) (*session, error) {
	cf, err := chanwire.ParseClientFinished(msg)
	if err != nil {
		return nil, parseErr(msg, err)
	}
	var binding []byte
	if hs.profile == chanwire.ProfileGMFS {
		signed, _ := cf.SignedPart()
		maced, _ := cf.MACedPart()
		if !sm2.VerifyASN1WithSM2(hs.peer.signPub, nil, cat([]byte(labelGMFSClientSig), sm3Of(hs.ch, hs.sh, signed)), cf.Signature) {
			return nil, ErrSignature
		}
		if !equal(hs.expectSA, cf.Confirm) {
			return nil, ErrConfirm
		}
		if !equal(finishedMAC(hs.keys.finC, sm3Of(hs.ch, hs.sh, maced)), cf.Finished) {
			return nil, ErrFinished
		}
		binding = sm3Of(hs.ch, hs.sh, msg)
	} else if !sm2.VerifyASN1WithSM2(hs.peer.signPub, nil, cat([]byte(labelGMClientSig), hs.ids), cf.Signature) {
		return nil, ErrSignature
	}
	sess, err := sm2Session(hs.profile, false, hs.keys, cfg.Credentials, hs.peer, binding)
	if err != nil {
		return nil, err
	}
	sess.rand = cfg.Rand
	return sess, nil
}
