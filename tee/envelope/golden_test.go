package envelope

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// goldenVector is one fixed envelope. Other implementations of the
// envelope format (a vendor's TA in C) can check themselves against it.
type goldenVector struct {
	Comment  string `json:"comment"`
	Key      string `json:"key"`
	From     string `json:"from"`
	To       string `json:"to"`
	Type     uint32 `json:"type"`
	Seq      uint64 `json:"seq"`
	Nonce    string `json:"nonce"`
	Payload  string `json:"payload"`
	Envelope string `json:"envelope"`
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// sealDeterministic seals with a fixed nonce and sequence number through
// the test-only hooks (the nonce reader and the sequencer clock).
func sealDeterministic(t *testing.T, key Key, r tee.Route, typ MsgType, seq uint64, nonce, payload []byte) []byte {
	t.Helper()
	s := mustSealer(t, r.From, Keyring{r: key})
	s.rand = bytes.NewReader(nonce)
	s.seq = NewSequencer(&fixedNano{ns: seq})
	b, err := s.Seal(r.To, typ, payload)
	require.NoError(t, err)
	return b
}

func TestGoldenVector(t *testing.T) {
	path := filepath.Join("testdata", "golden_v1.json")
	if *update {
		key := Key{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10}
		nonce := unhex(t, "00001234567800000000abcd")
		payload := bytes.Repeat([]byte{0x5A}, 32) // a 32-byte auth-token key
		r := tee.Route{From: tee.UUIDKeymaster, To: tee.UUIDGatekeeper}
		env := sealDeterministic(t, key, r, MsgAuthTokenKey, 1_000_000_007, nonce, payload)
		v := goldenVector{
			Comment: "envelope v1: keymaster to gatekeeper, AUTH_TOKEN_KEY, SM4-GCM, header (61 bytes) is the AAD",
			Key:     hex.EncodeToString(key[:]), From: r.From.String(), To: r.To.String(),
			Type: uint32(MsgAuthTokenKey), Seq: 1_000_000_007,
			Nonce: hex.EncodeToString(nonce), Payload: hex.EncodeToString(payload), Envelope: hex.EncodeToString(env),
		}
		out, err := json.MarshalIndent(v, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, append(out, '\n'), 0o644))
	}
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var v goldenVector
	require.NoError(t, json.Unmarshal(raw, &v))
	var key Key
	require.Equal(t, KeySize, copy(key[:], unhex(t, v.Key)))
	from, err := tee.ParseUUID(v.From)
	require.NoError(t, err)
	to, err := tee.ParseUUID(v.To)
	require.NoError(t, err)
	r := tee.Route{From: from, To: to}
	want := unhex(t, v.Envelope)

	got := sealDeterministic(t, key, r, MsgType(v.Type), v.Seq, unhex(t, v.Nonce), unhex(t, v.Payload))
	assert.Equal(t, hex.EncodeToString(want), hex.EncodeToString(got), "Seal must reproduce the golden envelope")

	o, err := NewOpener(to, Keyring{r: key}, NewMemoryGuard())
	require.NoError(t, err)
	m, err := o.Open(want)
	require.NoError(t, err)
	assert.Equal(t, from, m.From)
	assert.Equal(t, MsgType(v.Type), m.Type)
	assert.Equal(t, v.Seq, m.Seq)
	assert.Equal(t, unhex(t, v.Payload), m.Payload)
}

// TestSM4GCMKnownAnswer pins the AEAD to standard SM4-GCM with the test
// vector of RFC 8998 Appendix A.1, so that the envelope format is
// reproducible outside gmsm.
func TestSM4GCMKnownAnswer(t *testing.T) {
	var key Key
	copy(key[:], unhex(t, "0123456789abcdeffedcba9876543210"))
	a, err := newAEAD(key)
	require.NoError(t, err)
	iv := unhex(t, "00001234567800000000abcd")
	aad := unhex(t, "feedfacedeadbeeffeedfacedeadbeefabaddad2")
	pt := unhex(t, "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd"+
		"eeeeeeeeeeeeeeeeffffffffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa")
	want := "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735" +
		"d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d" +
		"83de3541e4c2b58177e065a9bf7b62ec"
	assert.Equal(t, want, hex.EncodeToString(a.Seal(nil, iv, pt, aad)))
}
