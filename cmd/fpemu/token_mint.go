package main

import (
	"encoding/hex"
	"fmt"

	"github.com/fpemu/fpemu/tokens"
	"github.com/spf13/cobra"
)

func newTokenMintCmd() *cobra.Command {
	var (
		kf              keyFlags
		challenge       uint64
		userID          uint64
		authenticatorID uint64
		authType        string
		timestamp       uint64
	)
	cmd := &cobra.Command{
		Use:   "mint (--key HEX | --key-file PATH) --challenge N --user-id N --authenticator-id N --type T --timestamp MS",
		Short: "Build and sign a version-0 token and print its 69 bytes as hex",
		Long: `Mint a hw_auth_token_t the way Gatekeeper or the fingerprint TA does: version 0,
the given fields, and the MAC (HMAC-SHA256 by default, or --mac hmac-sm3) over
the first 37 bytes. Prints the 69-byte token as lower-case hex.

--type is password, fingerprint, any, none, A|B or a 32-bit number.
--key puts the secret in argv (visible to other users, kept in shell history);
prefer --key-file.`,
		Example: `  fpemu token mint --key-file hat.key --challenge 42 --user-id 1001 \
      --authenticator-id 2002 --type fingerprint --timestamp 5000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := kf.mac()
			if err != nil {
				return err
			}
			typ, err := parseTypeFlag(authType)
			if err != nil {
				return err
			}
			t := tokens.Token{
				Version:           tokens.Version,
				Challenge:         challenge,
				UserID:            userID,
				AuthenticatorID:   authenticatorID,
				AuthenticatorType: typ,
				Timestamp:         timestamp,
			}
			m.Sign(&t)
			_, err = fmt.Fprintln(cmd.OutOrStdout(), hex.EncodeToString(t.Marshal()))
			return err
		},
	}
	kf.register(cmd)
	f := cmd.Flags()
	f.Uint64Var(&challenge, "challenge", 0, "challenge (operation handle or enroll challenge)")
	f.Uint64Var(&userID, "user-id", 0, "secure user ID (SID)")
	f.Uint64Var(&authenticatorID, "authenticator-id", 0, "secure authenticator ID")
	f.StringVar(&authType, "type", "", "authenticator type: password, fingerprint, any, none, A|B or N")
	f.Uint64Var(&timestamp, "timestamp", 0, "timestamp, ms since boot")
	for _, name := range []string{"challenge", "user-id", "authenticator-id", "type", "timestamp"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}
