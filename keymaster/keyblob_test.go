package keymaster

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tokens"
)

func testBlobSealer(t testing.TB) *blobSealer {
	t.Helper()
	s, err := newBlobSealer(bytes.Repeat([]byte{0x42}, 32))
	require.NoError(t, err)
	return s
}

func TestBlobLayout(t *testing.T) {
	s := testBlobSealer(t)
	params, err := sm2KeyParams().Marshal()
	require.NoError(t, err)
	scalar := bytes.Repeat([]byte{7}, kmproto.BlobScalarSize)
	blob, err := s.seal(params, scalar)
	require.NoError(t, err)

	require.Len(t, blob, kmproto.BlobSize(len(params)))
	assert.Equal(t, "KMKB", string(blob[:4]))
	assert.EqualValues(t, 1, blob[4])
	assert.EqualValues(t, len(params), binary.BigEndian.Uint32(blob[5:]))
	assert.Equal(t, params, blob[9:9+len(params)], "parameters travel in the clear")
	assert.False(t, bytes.Contains(blob, scalar), "the private scalar never does")

	ps, got, err := s.open(blob)
	require.NoError(t, err)
	assert.Equal(t, scalar, got)
	want, err := kmproto.ParseParams(params)
	require.NoError(t, err)
	assert.Equal(t, want, ps)

	// Two seals of the same key differ (random nonce).
	blob2, err := s.seal(params, scalar)
	require.NoError(t, err)
	assert.NotEqual(t, blob, blob2)
}

func TestBlobSealerKey(t *testing.T) {
	_, err := newBlobSealer(make([]byte, 15))
	require.Error(t, err)
	_, err = testBlobSealer(t).seal(nil, make([]byte, 31))
	require.Error(t, err)
}

func TestBlobRejectsNonCanonicalParams(t *testing.T) {
	// A blob the TA's own key sealed with a non-canonical list is still not
	// accepted: only canonical lists are ever sealed.
	s := testBlobSealer(t)
	nonCanon := be32(2, uint32(kmproto.TagUserSecureID), 0, 2, uint32(kmproto.TagUserSecureID), 0, 1)
	blob, err := s.seal(nonCanon, make([]byte, kmproto.BlobScalarSize))
	require.NoError(t, err)
	_, _, err = s.open(blob)
	require.ErrorIs(t, err, kmproto.ErrBlob)
}

// FuzzOpenBlob: open never panics and accepts nothing but blobs the sealer
// made; BlobParams never panics.
func FuzzOpenBlob(f *testing.F) {
	s := testBlobSealer(f)
	params, err := sm2KeyParams().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	good, err := s.sealNonce(params, bytes.Repeat([]byte{1}, kmproto.BlobScalarSize), [kmproto.BlobNonceSize]byte{9})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:kmproto.BlobHeaderSize])
	f.Add([]byte("KMKB\x01\xff\xff\xff\xff"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = kmproto.BlobParams(b)
		ps, scalar, err := s.open(b)
		if err != nil {
			if ps != nil || scalar != nil {
				t.Fatal("partial result on error")
			}
			return
		}
		if !bytes.Equal(b, good) {
			t.Fatalf("opened a blob that was never sealed: %x", b)
		}
	})
}

// sm2KeyParams is the SM2 key of docs/protocol.md §2.8.
func sm2KeyParams() kmproto.Params {
	return kmproto.Params{
		kmproto.AlgorithmParam(kmproto.AlgorithmEC),
		kmproto.ECCurveParam(kmproto.CurveSM2),
		kmproto.PurposeParam(kmproto.PurposeSign),
		kmproto.DigestParam(kmproto.DigestSM3),
		kmproto.UserSecureIDParam(0x1122334455667788),
		kmproto.UserAuthTypeParam(tokens.AuthPassword),
		kmproto.AuthTimeoutParam(30),
	}
}

func be32(v ...uint32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.BigEndian.AppendUint32(b, x)
	}
	return b
}
