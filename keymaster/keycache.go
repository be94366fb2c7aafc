package keymaster

import (
	"crypto/sha256"
	"sync"

	"github.com/fpemu/fpemu/keymaster/kmproto"
)

// keyCacheSize bounds the keys kept loaded.
const keyCacheSize = 64

// loadedKey is a key blob the TA has authenticated and parsed.
type loadedKey struct {
	params kmproto.Params
	spec   keySpec
	key    *privateKey
}

// keyCache keeps recently used keys loaded, so BEGIN on a known blob skips
// the AEAD open, the scalar multiplication that recomputes the public key
// and, for SM2, Z_A. It is keyed by SHA-256 of the whole blob: only a blob
// byte-for-byte identical to one the TA authenticated (or sealed) hits, so
// a modified blob still goes through OpenBlob and fails there. The cache
// lives in TA memory only and dies with the process (each boot).
type keyCache struct {
	mu    sync.Mutex
	m     map[[sha256.Size]byte]*loadedKey
	order [][sha256.Size]byte // insertion order, for FIFO eviction
}

func newKeyCache() *keyCache {
	return &keyCache{m: make(map[[sha256.Size]byte]*loadedKey)}
}

func (c *keyCache) get(id [sha256.Size]byte) (*loadedKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.m[id]
	return k, ok
}

func (c *keyCache) put(id [sha256.Size]byte, k *loadedKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; ok {
		return
	}
	if len(c.order) >= keyCacheSize {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.m[id] = k
	c.order = append(c.order, id)
}

// loadBlob returns the key in blob: from the cache, or by opening and
// validating the blob. Failures are INVALID_KEY_BLOB.
func (ta *TA) loadBlob(blob []byte) (*loadedKey, error) {
	if len(blob) > kmproto.MaxBlobSize {
		return nil, kmErr(kmproto.ErrorInvalidKeyBlob, "%d bytes, max %d", len(blob), kmproto.MaxBlobSize)
	}
	id := sha256.Sum256(blob)
	if k, ok := ta.keys.get(id); ok {
		return k, nil
	}
	params, scalar, err := ta.blobs.open(blob)
	if err != nil {
		return nil, &kmproto.Error{Code: kmproto.ErrorInvalidKeyBlob, Err: err}
	}
	defer clear(scalar)
	spec, err := checkKeyParams(params)
	if err != nil {
		return nil, &kmproto.Error{Code: kmproto.ErrorInvalidKeyBlob, Err: err}
	}
	key, err := loadKey(spec.curve, scalar)
	if err != nil {
		return nil, &kmproto.Error{Code: kmproto.ErrorInvalidKeyBlob, Err: err}
	}
	k := &loadedKey{params: params, spec: spec, key: key}
	ta.keys.put(id, k)
	return k, nil
}
