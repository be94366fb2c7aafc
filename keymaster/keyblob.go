package keymaster

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/sm4"
)

// Key blob format. A blob is what GENERATE_KEY hands to the REE and BEGIN
// takes back; the REE may store it anywhere. All integers big-endian.
//
//	offset    size  field
//	0         4     magic "KMKB"
//	4         1     version (1)
//	5         4     length n of the parameter list
//	9         n     the key's parameters, canonical (Params.Marshal)
//	9+n       12    SM4-GCM nonce (random)
//	21+n      48    SM4-GCM(private scalar, 32 bytes) || 16-byte tag
//
// Bytes [0, 9+n) are the GCM associated data, so the parameters are
// readable by the REE but bound to the key: changing any byte of the blob
// (parameters included) makes OpenBlob fail, which the TA reports as
// KM_ERROR_INVALID_KEY_BLOB, like AOSP's integrity-assured blobs
// (KM key_blob_utils / KMR keyblob.rs: characteristics authenticated with
// the key material).
const (
	blobMagic      = "KMKB"
	blobVersion    = 1
	blobHeaderSize = 9
	blobNonceSize  = 12
	blobTagSize    = 16
	scalarSize     = 32
	// MaxBlobSize bounds a key blob; larger input is rejected before any
	// work. It allows a full MaxParams list of small values.
	MaxBlobSize = 16 << 10
)

// blobKeyInfo is the HKDF info that separates the key-blob key from every
// other key derived from the TA storage key.
const blobKeyInfo = "fpemu keymaster key blob v1"

// ErrBlob is matched (errors.Is) by every OpenBlob failure. The TA answers
// it with KM_ERROR_INVALID_KEY_BLOB.
var ErrBlob = errors.New("keymaster: invalid key blob")

// blobSize is the size of the blob GENERATE_KEY returns for a canonical
// parameter list of n bytes.
func blobSize(n int) int {
	return blobHeaderSize + n + blobNonceSize + scalarSize + blobTagSize
}

// blobSealer seals and opens key blobs. It is safe for concurrent use.
type blobSealer struct {
	aead cipher.AEAD
}

// newBlobSealer derives the blob key from the TA storage key:
// HKDF-SHA256(storageKey, salt = none, info = blobKeyInfo) → 16-byte SM4
// key (GB/T 32907-2016) used in GCM mode (NIST SP 800-38D, as RFC 8998).
func newBlobSealer(storageKey []byte) (*blobSealer, error) {
	if len(storageKey) < 16 {
		return nil, fmt.Errorf("keymaster: storage key is %d bytes, need at least 16", len(storageKey))
	}
	k, err := hkdf.Key(sha256.New, storageKey, nil, blobKeyInfo, 16)
	if err != nil {
		return nil, fmt.Errorf("keymaster: derive blob key: %w", err)
	}
	block, err := sm4.NewCipher(k)
	clear(k)
	if err != nil {
		return nil, fmt.Errorf("keymaster: blob cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keymaster: blob GCM: %w", err)
	}
	return &blobSealer{aead: aead}, nil
}

// seal returns the blob binding scalar to params (already canonical bytes)
// under a random nonce.
func (s *blobSealer) seal(params []byte, scalar []byte) ([]byte, error) {
	var nonce [blobNonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("keymaster: blob nonce: %w", err)
	}
	return s.sealNonce(params, scalar, nonce)
}

func (s *blobSealer) sealNonce(params []byte, scalar []byte, nonce [blobNonceSize]byte) ([]byte, error) {
	if len(scalar) != scalarSize {
		return nil, fmt.Errorf("keymaster: private scalar is %d bytes, want %d", len(scalar), scalarSize)
	}
	n := len(params)
	out := make([]byte, blobHeaderSize+n+blobNonceSize, blobSize(n))
	copy(out, blobMagic)
	out[4] = blobVersion
	binary.BigEndian.PutUint32(out[5:], uint32(n))
	copy(out[blobHeaderSize:], params)
	copy(out[blobHeaderSize+n:], nonce[:])
	aad := out[:blobHeaderSize+n]
	return s.aead.Seal(out, nonce[:], scalar, aad), nil
}

// open authenticates blob and returns its parameters and private scalar.
// Every failure matches ErrBlob and returns nothing else.
func (s *blobSealer) open(blob []byte) (Params, []byte, error) {
	if len(blob) > MaxBlobSize {
		return nil, nil, fmt.Errorf("%w: %d bytes, max %d", ErrBlob, len(blob), MaxBlobSize)
	}
	if len(blob) < blobHeaderSize || string(blob[:4]) != blobMagic {
		return nil, nil, fmt.Errorf("%w: bad magic", ErrBlob)
	}
	if blob[4] != blobVersion {
		return nil, nil, fmt.Errorf("%w: version %d, want %d", ErrBlob, blob[4], blobVersion)
	}
	n := uint64(binary.BigEndian.Uint32(blob[5:]))
	want := uint64(blobHeaderSize) + n + blobNonceSize + scalarSize + blobTagSize
	if uint64(len(blob)) != want {
		return nil, nil, fmt.Errorf("%w: %d bytes, parameter length says %d", ErrBlob, len(blob), want)
	}
	end := blobHeaderSize + int(n)
	aad := blob[:end]
	nonce := blob[end : end+blobNonceSize]
	scalar, err := s.aead.Open(nil, nonce, blob[end+blobNonceSize:], aad)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: authentication failed", ErrBlob)
	}
	params, err := ParseParams(blob[blobHeaderSize:end])
	if err == nil {
		// Only canonical lists are ever sealed; anything else is not ours.
		var canon []byte
		if canon, err = params.Marshal(); err == nil && !bytes.Equal(canon, blob[blobHeaderSize:end]) {
			err = errors.New("parameters not canonical")
		}
	}
	if err != nil {
		clear(scalar)
		return nil, nil, fmt.Errorf("%w: %v", ErrBlob, err)
	}
	return params, scalar, nil
}

// BlobParams returns the key parameters stored in the clear in a key blob,
// without authenticating them (only the TA can). It lets the REE see what
// a key requires, like getKeyCharacteristics; errors match ErrBlob.
func BlobParams(blob []byte) (Params, error) {
	if len(blob) < blobHeaderSize || string(blob[:4]) != blobMagic || blob[4] != blobVersion {
		return nil, fmt.Errorf("%w: bad header", ErrBlob)
	}
	n := uint64(binary.BigEndian.Uint32(blob[5:]))
	if uint64(len(blob)) != uint64(blobHeaderSize)+n+blobNonceSize+scalarSize+blobTagSize {
		return nil, fmt.Errorf("%w: bad length", ErrBlob)
	}
	ps, err := ParseParams(blob[blobHeaderSize : blobHeaderSize+int(n)])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBlob, err)
	}
	return ps, nil
}
