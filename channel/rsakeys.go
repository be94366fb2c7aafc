package channel

import (
	"crypto"
	"crypto/rsa"
	"fmt"
)

// RSAKey is an RSA private key behind the interfaces a TA can implement:
// signing (RSA-PSS, SHA-256) and decryption (RSA-OAEP, SHA-256).
type RSAKey interface {
	crypto.Signer
	crypto.Decrypter
}

// RSAClientKeys are the device's optee-rsa keys (seed 000 §3, §5).
type RSAClientKeys struct {
	// DeviceID names the device to the server (1..64 bytes).
	DeviceID []byte
	// Key is the device's RSA-2048 key, generated in the TA.
	Key RSAKey
	// ServerKey is the server key pinned at install or registration
	// (RSA_PUBLIC_SERVER).
	ServerKey *rsa.PublicKey
}

// RSAServerKeys are the server's optee-rsa keys.
type RSAServerKeys struct {
	Key RSAKey
	// VerifyDevice checks the device id and the key it sent (the
	// registry); nil accepts any (ErrIdentity if it fails).
	VerifyDevice func(deviceID []byte, key *rsa.PublicKey) error
}

func (k *RSAClientKeys) check() error {
	if k == nil || k.Key == nil || k.ServerKey == nil || len(k.DeviceID) == 0 {
		return fmt.Errorf("%w: optee-rsa needs a device id, the device key and the pinned server key", ErrConfig)
	}
	return nil
}
