package tokens

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAuthenticatorTypeValues(t *testing.T) {
	// hw_auth_token.h / AIDL HardwareAuthenticatorType numbering.
	assert.Equal(t, AuthenticatorType(0), AuthNone)
	assert.Equal(t, AuthenticatorType(1), AuthPassword)
	assert.Equal(t, AuthenticatorType(2), AuthFingerprint)
	assert.Equal(t, AuthenticatorType(0xFFFFFFFF), AuthAny)
}

func TestAuthenticatorTypeString(t *testing.T) {
	for _, tc := range []struct {
		in   AuthenticatorType
		want string
	}{
		{AuthNone, "NONE"},
		{AuthPassword, "PASSWORD"},
		{AuthFingerprint, "FINGERPRINT"},
		{AuthAny, "ANY"},
		{AuthPassword | AuthFingerprint, "PASSWORD|FINGERPRINT"},
		{AuthFingerprint | 4, "FINGERPRINT|0x4"},
		{0x100, "0x100"},
		{0xFFFFFFFE, "FINGERPRINT|0xfffffffc"},
	} {
		assert.Equal(t, tc.want, tc.in.String(), "type %d", uint32(tc.in))
	}
}

func TestParseAuthenticatorType(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    AuthenticatorType
		wantErr bool
	}{
		{"none", AuthNone, false},
		{"password", AuthPassword, false},
		{"FINGERPRINT", AuthFingerprint, false},
		{"HW_AUTH_FINGERPRINT", AuthFingerprint, false},
		{"any", AuthAny, false},
		{"password|fingerprint", AuthPassword | AuthFingerprint, false},
		{" Password | Fingerprint ", AuthPassword | AuthFingerprint, false},
		{"2", AuthFingerprint, false},
		{"0x3", AuthPassword | AuthFingerprint, false},
		{"4294967295", AuthAny, false},
		{"", 0, true},
		{"face", 0, true},
		{"password|", 0, true},
		{"4294967296", 0, true},
		{"-1", 0, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseAuthenticatorType(tc.in)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	// String output parses back for the named values.
	for _, v := range []AuthenticatorType{AuthNone, AuthPassword, AuthFingerprint, AuthAny, AuthPassword | AuthFingerprint} {
		got, err := ParseAuthenticatorType(v.String())
		require.NoError(t, err)
		assert.Equal(t, v, got)
	}
}
