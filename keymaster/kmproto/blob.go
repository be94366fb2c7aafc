package kmproto

import (
	"encoding/binary"
	"errors"
	"fmt"
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
// (parameters included) makes the TA's open fail, which the TA reports as
// KM_ERROR_INVALID_KEY_BLOB, like AOSP's integrity-assured blobs
// (KM key_blob_utils / KMR keyblob.rs: characteristics authenticated with
// the key material).
//
// The Blob* constants are the sizes of the fields above.
const (
	BlobMagic      = "KMKB"
	BlobVersion    = 1
	BlobHeaderSize = 9
	BlobNonceSize  = 12
	BlobTagSize    = 16
	BlobScalarSize = 32
	// MaxBlobSize bounds a key blob; larger input is rejected before any
	// work. It allows a full MaxParams list of small values.
	MaxBlobSize = 16 << 10
)

// ErrBlob is matched (errors.Is) by every failure to read or open a key
// blob. The TA answers it with KM_ERROR_INVALID_KEY_BLOB.
var ErrBlob = errors.New("keymaster: invalid key blob")

// BlobSize is the size of the blob GENERATE_KEY returns for a canonical
// parameter list of n bytes.
func BlobSize(n int) int {
	return BlobHeaderSize + n + BlobNonceSize + BlobScalarSize + BlobTagSize
}

// BlobParams returns the key parameters stored in the clear in a key blob,
// without authenticating them (only the TA can). It lets the REE see what
// a key requires, like getKeyCharacteristics; errors match ErrBlob.
func BlobParams(blob []byte) (Params, error) {
	if len(blob) < BlobHeaderSize || string(blob[:4]) != BlobMagic || blob[4] != BlobVersion {
		return nil, fmt.Errorf("%w: bad header", ErrBlob)
	}
	n := uint64(binary.BigEndian.Uint32(blob[5:]))
	if uint64(len(blob)) != uint64(BlobHeaderSize)+n+BlobNonceSize+BlobScalarSize+BlobTagSize {
		return nil, fmt.Errorf("%w: bad length", ErrBlob)
	}
	ps, err := ParseParams(blob[BlobHeaderSize : BlobHeaderSize+int(n)])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBlob, err)
	}
	return ps, nil
}
