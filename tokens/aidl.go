package tokens

import "strconv"

// HardwareAuthToken mirrors the AIDL parcelable
// android.hardware.security.keymint.HardwareAuthToken (identical to
// android.hardware.keymaster.HardwareAuthToken). AIDL longs are signed; the
// conversion reinterprets the bits, as KeyMintUtils authToken2AidlVec and
// HardwareAuthTokenUtils.toByteArray do.
type HardwareAuthToken struct {
	Challenge         int64
	UserID            int64 // secure user ID from Gatekeeper
	AuthenticatorID   int64 // secure authenticator ID
	AuthenticatorType AuthenticatorType
	Timestamp         int64 // Timestamp.milliSeconds
	MAC               []byte
}

// HardwareAuthToken returns t as the AIDL field set (the MAC is copied; the
// version, always 0 in AIDL, is dropped).
func (t Token) HardwareAuthToken() HardwareAuthToken {
	mac := make([]byte, MACSize)
	copy(mac, t.MAC[:])
	return HardwareAuthToken{
		Challenge:         int64(t.Challenge),
		UserID:            int64(t.UserID),
		AuthenticatorID:   int64(t.AuthenticatorID),
		AuthenticatorType: t.AuthenticatorType,
		Timestamp:         int64(t.Timestamp),
		MAC:               mac,
	}
}

// FromHardwareAuthToken converts the AIDL field set to a version-0 Token.
// The MAC must be exactly MACSize bytes (authToken2AidlVec requires
// mac.size() == 32; an empty mac means "no token" in the keymaster AIDL);
// otherwise it returns a *MalformedError and the zero Token.
func FromHardwareAuthToken(h HardwareAuthToken) (Token, error) {
	if len(h.MAC) != MACSize {
		reason := "mac is " + strconv.Itoa(len(h.MAC)) + " bytes, want " + strconv.Itoa(MACSize)
		if len(h.MAC) == 0 {
			reason = "empty mac (no auth token)"
		}
		return Token{}, &MalformedError{Len: -1, Reason: reason}
	}
	t := Token{
		Version:           Version,
		Challenge:         uint64(h.Challenge),
		UserID:            uint64(h.UserID),
		AuthenticatorID:   uint64(h.AuthenticatorID),
		AuthenticatorType: h.AuthenticatorType,
		Timestamp:         uint64(h.Timestamp),
	}
	copy(t.MAC[:], h.MAC)
	return t, nil
}
