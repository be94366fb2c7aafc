package channel

import (
	"crypto/aes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/ecdh"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/internal/testkit"
)

var update = flag.Bool("update", false, "regenerate testdata/vectors_v1.json (docs/protocol.md §11.11)")

const vectorsFile = "testdata/vectors_v1.json"

// vector is one worked example: every long-term and ephemeral private key,
// the certificates, the handshake messages in order (device, server,
// device), one record each way, and the values a second implementation
// derives from them (docs/protocol.md §11.11). All byte strings are hex.
type vector struct {
	Profile  string            `json:"profile"`
	Now      string            `json:"now"`
	Keys     map[string]string `json:"keys"`
	Certs    map[string]string `json:"certs,omitempty"`
	Messages []string          `json:"messages"`
	Records  []vectorRecord    `json:"records"`
	Derived  map[string]string `json:"derived"`
}

type vectorRecord struct {
	From      string `json:"from"` // "device" or "server"
	Record    string `json:"record"`
	Plaintext string `json:"plaintext"` // the AppMessage TLVs inside the record
}

func sm2Scalar(k *sm2.PrivateKey) string { return hex.EncodeToString(k.D.FillBytes(make([]byte, 32))) }

var ephMu sync.Mutex

// generateVector runs one real handshake and records it.
func generateVector(t *testing.T, p chanwire.Profile) vector {
	w := getWorld(t)
	var ephs []*ecdh.PrivateKey
	ephMu.Lock()
	saved := generateEphemeral
	generateEphemeral = func(r io.Reader) (*ecdh.PrivateKey, error) {
		k, err := saved(r)
		ephs = append(ephs, k)
		return k, err
	}
	c, s, msgs := handshake(t, w.clientConfig(p), w.serverConfig(p))
	generateEphemeral = saved
	ephMu.Unlock()

	v := vector{Profile: p.String(), Now: testNow.Format("2006-01-02T15:04:05Z"), Keys: map[string]string{}, Certs: map[string]string{}, Derived: map[string]string{}}
	for _, m := range msgs {
		v.Messages = append(v.Messages, hex.EncodeToString(m))
	}
	if p == chanwire.ProfileOpteeRSA {
		for name, k := range map[string]*rsa.PrivateKey{"device_rsa_pkcs8": w.devRSA, "server_rsa_pkcs8": w.srvRSA} {
			der, err := x509.MarshalPKCS8PrivateKey(k)
			require.NoError(t, err)
			v.Keys[name] = hex.EncodeToString(der)
		}
		v.Keys["device_id"] = hex.EncodeToString(w.clientConfig(p).RSA.DeviceID)
		v.Certs = nil
	} else {
		v.Certs["ca"] = hex.EncodeToString(w.pki.ca.Raw)
		for side, cr := range map[string]*SM2Credentials{"device": w.device, "server": w.server} {
			v.Keys[side+"_sign"] = sm2Scalar(cr.Signer.(*sm2.PrivateKey))
			v.Keys[side+"_enc"] = sm2Scalar(cr.Decrypter.(*sm2.PrivateKey))
			v.Certs[side+"_sign"] = hex.EncodeToString(cr.SignCert.Raw)
			v.Certs[side+"_enc"] = hex.EncodeToString(cr.EncCert.Raw)
		}
		if p == chanwire.ProfileGMFS {
			require.Len(t, ephs, 2)
			v.Keys["device_ephemeral"] = hex.EncodeToString(ephs[0].Bytes())
			v.Keys["server_ephemeral"] = hex.EncodeToString(ephs[1].Bytes())
		}
	}
	app := testApp
	rec, err := c.Seal(app)
	require.NoError(t, err)
	got, err := s.OpenRecord(rec)
	require.NoError(t, err)
	v.Records = append(v.Records, vectorRecord{From: "device", Record: hex.EncodeToString(rec), Plaintext: hex.EncodeToString(mustMarshal(t, got.Marshal))})
	reply := chanwire.AppMessage{DeviceID: []byte("device-0001"), UserID: []byte("user-42"), Custom: []byte(`{"result":"booked"}`)}
	rec, err = s.Seal(reply)
	require.NoError(t, err)
	got, err = c.OpenRecord(rec)
	require.NoError(t, err)
	v.Records = append(v.Records, vectorRecord{From: "server", Record: hex.EncodeToString(rec), Plaintext: hex.EncodeToString(mustMarshal(t, got.Marshal))})
	v.Derived = deriveVector(t, v)
	return v
}

// deriveVector recomputes everything a vector's messages imply from its
// private keys alone — the way a second implementation would, without
// running this package's state machines — checks every signature, MAC,
// confirmation and record against the messages, and returns the derived
// values.
func deriveVector(t *testing.T, v vector) map[string]string {
	d := map[string]string{}
	msgs := make([][]byte, len(v.Messages))
	for i, m := range v.Messages {
		msgs[i] = testkit.Unhex(t, m)
	}
	require.Len(t, msgs, 3)
	p, ok := chanwire.ParseProfile(v.Profile)
	require.True(t, ok)
	h := func(b []byte) string { return hex.EncodeToString(b) }
	var c2s, s2c protector
	var appSess *session
	if p == chanwire.ProfileOpteeRSA {
		dk, err := x509.ParsePKCS8PrivateKey(testkit.Unhex(t, v.Keys["device_rsa_pkcs8"]))
		require.NoError(t, err)
		sk, err := x509.ParsePKCS8PrivateKey(testkit.Unhex(t, v.Keys["server_rsa_pkcs8"]))
		require.NoError(t, err)
		dev, srv := dk.(*rsa.PrivateKey), sk.(*rsa.PrivateKey)
		m1, err := chanwire.ParseRSAHello(msgs[0])
		require.NoError(t, err)
		pt, err := openSealed(nil, srv, m1.Sealed)
		require.NoError(t, err)
		hello, err := chanwire.ParseRSAHelloPlain(pt)
		require.NoError(t, err)
		m2, err := chanwire.ParseRSAResponse(msgs[1])
		require.NoError(t, err)
		require.True(t, pssVerify(&srv.PublicKey, mustMarshal(t, m2.SignedPart), m2.Signature), "server signature")
		pt, err = openSealed(nil, dev, m2.Sealed)
		require.NoError(t, err)
		resp, err := chanwire.ParseRSAResponsePlain(pt)
		require.NoError(t, err)
		require.Equal(t, hello.RandomA, resp.RandomA)
		m3, err := chanwire.ParseRSAConfirm(msgs[2])
		require.NoError(t, err)
		pt, err = openSealed(nil, srv, m3.Sealed)
		require.NoError(t, err)
		conf, err := chanwire.ParseRSAConfirmPlain(pt)
		require.NoError(t, err)
		require.True(t, pssVerify(&dev.PublicKey, confirmSigned(hello.RandomA[:], resp.RandomB[:], conf.RandomC[:], hello.DeviceID), conf.Signature), "device signature")
		key := sessionKey(hello.RandomA[:], resp.RandomB[:], conf.RandomC[:])
		d["random_a"], d["random_b"], d["random_c"], d["session_key"] = h(hello.RandomA[:]), h(resp.RandomB[:]), h(conf.RandomC[:]), h(key)
		blk, _ := aes.NewCipher(key)
		c2s = &rsaDir{block: blk, peer: &dev.PublicKey}
		s2c = &rsaDir{block: blk, peer: &srv.PublicKey}
		appSess = &session{profile: p}
	} else {
		ch, err := chanwire.ParseClientHello(msgs[0])
		require.NoError(t, err)
		sh, err := chanwire.ParseServerHello(msgs[1])
		require.NoError(t, err)
		cf, err := chanwire.ParseClientFinished(msgs[2])
		require.NoError(t, err)
		key := func(name string) *sm2.PrivateKey {
			k, err := sm2.NewPrivateKey(testkit.Unhex(t, v.Keys[name]))
			require.NoError(t, err)
			return k
		}
		cert := func(name string) *smx509.Certificate {
			c, err := smx509.ParseCertificate(testkit.Unhex(t, v.Certs[name]))
			require.NoError(t, err)
			return c
		}
		roots := smx509.NewCertPool()
		roots.AddCert(cert("ca"))
		now, err := time.Parse("2006-01-02T15:04:05Z", v.Now)
		require.NoError(t, err)
		for _, side := range []string{"device", "server"} {
			_, err := verifyPair(testkit.Unhex(t, v.Certs[side+"_sign"]), testkit.Unhex(t, v.Certs[side+"_enc"]), roots, now)
			require.NoError(t, err, side)
		}
		devEnc, srvEnc := key("device_enc"), key("server_enc")
		require.Equal(t, v.Certs["device_sign"], h(ch.SignCert))
		require.Equal(t, v.Certs["server_sign"], h(sh.SignCert))
		devSignPub, srvSignPub := &key("device_sign").PublicKey, &key("server_sign").PublicKey
		require.True(t, devSignPub.Equal(cert("device_sign").PublicKey))
		dx, _ := NewKeyExchanger(devEnc)
		sx, _ := NewKeyExchanger(srvEnc)
		var ra, rb *ecdh.PrivateKey
		if p == chanwire.ProfileGMFS {
			ra, err = ecdh.P256().NewPrivateKey(testkit.Unhex(t, v.Keys["device_ephemeral"]))
			require.NoError(t, err)
			rb, err = ecdh.P256().NewPrivateKey(testkit.Unhex(t, v.Keys["server_ephemeral"]))
			require.NoError(t, err)
			require.Equal(t, ch.Ephemeral, ra.PublicKey().Bytes())
			require.Equal(t, sh.Ephemeral, rb.PublicKey().Bytes())
		}
		pub := func(k KeyExchanger, e *ecdh.PrivateKey) *ecdh.PublicKey {
			if e == nil {
				return k.PublicKey()
			}
			return e.PublicKey()
		}
		exA, err := sm2Exchange(false, dx, ra, sx.PublicKey(), pub(sx, rb))
		require.NoError(t, err)
		exB, err := sm2Exchange(true, sx, rb, dx.PublicKey(), pub(dx, ra))
		require.NoError(t, err)
		require.Equal(t, exA, exB, "both sides agree")
		d["z"] = h(exA.z)
		var keys sm2Keys
		var binding []byte
		if p == chanwire.ProfileGMFS {
			d["s_a"], d["s_b"] = h(exA.sA), h(exA.sB)
			require.Equal(t, exA.sB, sh.Confirm)
			require.Equal(t, exA.sA, cf.Confirm)
			thS := sm3Of(msgs[0], mustMarshal(t, sh.SignedPart))
			require.True(t, sm2.VerifyASN1WithSM2(srvSignPub, nil, cat([]byte(labelGMFSServerSig), thS), sh.Signature), "server signature")
			keys = keyBlock(p, exA.z, thS)
			require.Equal(t, finishedMAC(keys.finS, sm3Of(msgs[0], mustMarshal(t, sh.MACedPart))), sh.Finished)
			thC := sm3Of(msgs[0], msgs[1], mustMarshal(t, cf.SignedPart))
			require.True(t, sm2.VerifyASN1WithSM2(devSignPub, nil, cat([]byte(labelGMFSClientSig), thC), cf.Signature), "device signature")
			require.Equal(t, finishedMAC(keys.finC, sm3Of(msgs[0], msgs[1], mustMarshal(t, cf.MACedPart))), cf.Finished)
			binding = sm3Of(msgs[0], msgs[1], msgs[2])
			d["transcript_server"], d["transcript_client"], d["binding"] = h(thS), h(thC), h(binding)
			d["finished_key_client"], d["finished_key_server"] = h(keys.finC), h(keys.finS)
		} else {
			ids := cat(ch.Random[:], sh.Random[:], identity(ch.SignCert), identity(sh.SignCert))
			require.True(t, sm2.VerifyASN1WithSM2(srvSignPub, nil, cat([]byte(labelGMServerSig), ids), sh.Signature), "server signature")
			require.True(t, sm2.VerifyASN1WithSM2(devSignPub, nil, cat([]byte(labelGMClientSig), ids), cf.Signature), "device signature")
			keys = keyBlock(p, exA.z, cat(ch.Random[:], sh.Random[:]))
			d["signed_ids"] = h(ids)
		}
		d["c2s_key"], d["c2s_iv"], d["s2c_key"], d["s2c_iv"] = h(keys.c2sKey), h(keys.c2sIV), h(keys.s2cKey), h(keys.s2cIV)
		var err1, err2 error
		c2s, err1 = newGCMDir(p, keys.c2sKey, keys.c2sIV)
		s2c, err2 = newGCMDir(p, keys.s2cKey, keys.s2cIV)
		require.NoError(t, err1)
		require.NoError(t, err2)
		appSess = &session{profile: p, binding: binding}
		appSess.peerSign = devSignPub
		_ = srvSignPub
		for i, r := range v.Records {
			rec, err := chanwire.ParseRecord(testkit.Unhex(t, r.Record))
			require.NoError(t, err)
			dir, signer := c2s, devSignPub
			if r.From == "server" {
				dir, signer = s2c, srvSignPub
			}
			pt, err := dir.open(rec)
			require.NoError(t, err, "record %d", i)
			require.Equal(t, r.Plaintext, h(pt))
			m, err := chanwire.ParseAppMessage(pt)
			require.NoError(t, err)
			content := mustMarshal(t, m.Content)
			require.True(t, sm2.VerifyASN1WithSM2(signer, nil, appSess.appSigned(r.From == "device", rec.Seq, content), m.Signature), "app signature %d", i)
		}
		return d
	}
	for i, r := range v.Records {
		rec, err := chanwire.ParseRecord(testkit.Unhex(t, r.Record))
		require.NoError(t, err)
		dir := c2s
		if r.From == "server" {
			dir = s2c
		}
		pt, err := dir.open(rec)
		require.NoError(t, err, "record %d", i)
		require.Equal(t, r.Plaintext, h(pt))
	}
	return d
}

// TestVectors checks testdata/vectors_v1.json: every message re-encodes
// to itself, and everything derived from the recorded keys matches the
// messages and the recorded values. With -update it regenerates the file
// from fresh handshakes first.
func TestVectors(t *testing.T) {
	path := filepath.FromSlash(vectorsFile)
	if *update {
		var vs []vector
		for _, p := range []chanwire.Profile{chanwire.ProfileGMFS, chanwire.ProfileGM, chanwire.ProfileOpteeRSA} {
			vs = append(vs, generateVector(t, p))
		}
		b, err := json.MarshalIndent(vs, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
	}
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var vs []vector
	require.NoError(t, json.Unmarshal(b, &vs))
	require.Len(t, vs, 3)
	for _, v := range vs {
		t.Run(v.Profile, func(t *testing.T) {
			for i, m := range v.Messages {
				raw := testkit.Unhex(t, m)
				h, _, err := chanwire.Split(raw)
				require.NoError(t, err, "message %d", i)
				var again []byte
				switch h.Type {
				case chanwire.TypeClientHello:
					x, err := chanwire.ParseClientHello(raw)
					require.NoError(t, err)
					again = mustMarshal(t, x.Marshal)
				case chanwire.TypeServerHello:
					x, err := chanwire.ParseServerHello(raw)
					require.NoError(t, err)
					again = mustMarshal(t, x.Marshal)
				case chanwire.TypeClientFinished:
					x, err := chanwire.ParseClientFinished(raw)
					require.NoError(t, err)
					again = mustMarshal(t, x.Marshal)
				case chanwire.TypeRSAHello:
					x, err := chanwire.ParseRSAHello(raw)
					require.NoError(t, err)
					again = mustMarshal(t, x.Marshal)
				case chanwire.TypeRSAResponse:
					x, err := chanwire.ParseRSAResponse(raw)
					require.NoError(t, err)
					again = mustMarshal(t, x.Marshal)
				case chanwire.TypeRSAConfirm:
					x, err := chanwire.ParseRSAConfirm(raw)
					require.NoError(t, err)
					again = mustMarshal(t, x.Marshal)
				default:
					t.Fatalf("message %d: type %s", i, h.Type)
				}
				require.Equal(t, raw, again, fmt.Sprintf("message %d re-encodes", i))
			}
			got := deriveVector(t, v)
			require.Equal(t, v.Derived, got)
		})
	}
}
