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

	"github.com/fpemu/fpemu/keymaster/kmproto"
)

// blobKeyInfo is the HKDF info that separates the key-blob key from every
// other key derived from the TA storage key.
const blobKeyInfo = "fpemu keymaster key blob v1"

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
	var nonce [kmproto.BlobNonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("keymaster: blob nonce: %w", err)
	}
	return s.sealNonce(params, scalar, nonce)
}

func (s *blobSealer) sealNonce(params []byte, scalar []byte, nonce [kmproto.BlobNonceSize]byte) ([]byte, error) {
	if len(scalar) != kmproto.BlobScalarSize {
		return nil, fmt.Errorf("keymaster: private scalar is %d bytes, want %d", len(scalar), kmproto.BlobScalarSize)
	}
	n := len(params)
	out := make([]byte, kmproto.BlobHeaderSize+n+kmproto.BlobNonceSize, kmproto.BlobSize(n))
	copy(out, kmproto.BlobMagic)
	out[4] = kmproto.BlobVersion
	binary.BigEndian.PutUint32(out[5:], uint32(n))
	copy(out[kmproto.BlobHeaderSize:], params)
	copy(out[kmproto.BlobHeaderSize+n:], nonce[:])
	aad := out[:kmproto.BlobHeaderSize+n]
	return s.aead.Seal(out, nonce[:], scalar, aad), nil
}

// open authenticates blob and returns its parameters and private scalar.
// Every failure matches kmproto.ErrBlob and returns nothing else.
func (s *blobSealer) open(blob []byte) (kmproto.Params, []byte, error) {
	if len(blob) > kmproto.MaxBlobSize {
		return nil, nil, fmt.Errorf("%w: %d bytes, max %d", kmproto.ErrBlob, len(blob), kmproto.MaxBlobSize)
	}
	if len(blob) < kmproto.BlobHeaderSize || string(blob[:4]) != kmproto.BlobMagic {
		return nil, nil, fmt.Errorf("%w: bad magic", kmproto.ErrBlob)
	}
	if blob[4] != kmproto.BlobVersion {
		return nil, nil, fmt.Errorf("%w: version %d, want %d", kmproto.ErrBlob, blob[4], kmproto.BlobVersion)
	}
	n := uint64(binary.BigEndian.Uint32(blob[5:]))
	want := uint64(kmproto.BlobHeaderSize) + n + kmproto.BlobNonceSize + kmproto.BlobScalarSize + kmproto.BlobTagSize
	if uint64(len(blob)) != want {
		return nil, nil, fmt.Errorf("%w: %d bytes, parameter length says %d", kmproto.ErrBlob, len(blob), want)
	}
	end := kmproto.BlobHeaderSize + int(n)
	aad := blob[:end]
	nonce := blob[end : end+kmproto.BlobNonceSize]
	scalar, err := s.aead.Open(nil, nonce, blob[end+kmproto.BlobNonceSize:], aad)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: authentication failed", kmproto.ErrBlob)
	}
	params, err := kmproto.ParseParams(blob[kmproto.BlobHeaderSize:end])
	if err == nil {
		// Only canonical lists are ever sealed; anything else is not ours.
		var canon []byte
		if canon, err = params.Marshal(); err == nil && !bytes.Equal(canon, blob[kmproto.BlobHeaderSize:end]) {
			err = errors.New("parameters not canonical")
		}
	}
	if err != nil {
		clear(scalar)
		return nil, nil, fmt.Errorf("%w: %v", kmproto.ErrBlob, err)
	}
	return params, scalar, nil
}
