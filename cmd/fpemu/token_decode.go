package main

import (
	"encoding/hex"
	"encoding/json"

	"github.com/fpemu/fpemu/tokens"
	"github.com/spf13/cobra"
)

// decodedToken is the JSON printed by "fpemu token decode". Integers are
// exact unsigned decimals over the full 64-bit range.
type decodedToken struct {
	Version               uint8  `json:"version"`
	Challenge             uint64 `json:"challenge"`
	UserID                uint64 `json:"user_id"`
	AuthenticatorID       uint64 `json:"authenticator_id"`
	AuthenticatorType     uint32 `json:"authenticator_type"`
	AuthenticatorTypeName string `json:"authenticator_type_name"`
	Timestamp             uint64 `json:"timestamp"`
	HMAC                  string `json:"hmac"`
}

func newDecodedToken(t tokens.Token) decodedToken {
	return decodedToken{
		Version:               t.Version,
		Challenge:             t.Challenge,
		UserID:                t.UserID,
		AuthenticatorID:       t.AuthenticatorID,
		AuthenticatorType:     uint32(t.AuthenticatorType),
		AuthenticatorTypeName: t.AuthenticatorType.String(),
		Timestamp:             t.Timestamp,
		HMAC:                  hex.EncodeToString(t.MAC[:]),
	}
}

func newTokenDecodeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "decode HEX|-",
		Short: "Print a token's fields as one JSON object (no key, no checks)",
		Long: `Decode a 69-byte hw_auth_token_t and print one JSON object:

  version, challenge, user_id, authenticator_id   exact unsigned decimal integers
  authenticator_type                              integer bitmask
  authenticator_type_name                         NONE, PASSWORD, FINGERPRINT, ANY or A|B
  timestamp                                       integer, ms since boot
  hmac                                            lower-case hex

decode checks only the format: it does not verify the MAC or any policy (use
"fpemu token verify"). A malformed token (not hex, odd length, not 69 bytes)
exits 1.`,
		Example: `  fpemu token decode 00efcdab89...1a0e
  echo 00efcdab89...1a0e | fpemu token decode -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := readToken(cmd, args[0])
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(newDecodedToken(t))
		},
	}
}
