package main

import (
	"fmt"
	"time"

	"github.com/fpemu/fpemu/tokens"
	"github.com/spf13/cobra"
)

func newTokenVerifyCmd() *cobra.Command {
	var (
		kf        keyFlags
		challenge uint64
		typeMask  string
		sids      uint64List
		nowMS     uint64
		timeoutS  uint32
		skewMS    uint64
	)
	cmd := &cobra.Command{
		Use:   "verify (--key HEX | --key-file PATH) [flags] HEX|-",
		Short: "Check a token's MAC and policy; print \"valid\" or the failed rule",
		Long: `Verify a 69-byte hw_auth_token_t: version 0, the MAC under the key, then the
policy given by flags, in this order (the first failure is reported):

  --challenge N    token challenge == N (auth-per-operation keys, enroll)
  --type T         token authenticator_type & T != 0 (USER_AUTH_TYPE);
                   T is password, fingerprint, any, none, A|B or a number
  --sid N          N equals user_id or authenticator_id (USER_SECURE_ID);
                   repeat or comma-separate: any one match suffices
  --now MS --timeout SEC
                   now - timestamp <= timeout (AUTH_TIMEOUT); a timestamp more
                   than --skew ms after now is rejected as from the future

Prints "valid" and exits 0, or prints one line naming the failed rule on stderr
and exits 1. A malformed token exits 1; a bad key or flag exits 2.

--key puts the secret in argv (visible to other users, kept in shell history);
prefer --key-file.`,
		Example: `  fpemu token verify --key-file hat.key --type fingerprint --sid 1001 \
      --now 12000 --timeout 30 00efcdab89...1a0e`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := kf.mac()
			if err != nil {
				return err
			}
			v := tokens.NewVerifier(m)
			f := cmd.Flags()
			if f.Changed("challenge") {
				v = v.WithChallenge(challenge)
			}
			if f.Changed("type") {
				mask, err := parseTypeFlag(typeMask)
				if err != nil {
					return err
				}
				v = v.WithAuthenticatorTypes(mask)
			}
			if f.Changed("sid") {
				v = v.WithSecureIDs(sids...)
			}
			if f.Changed("now") {
				v = v.WithFreshness(nowMS, time.Duration(timeoutS)*time.Second).
					WithClockSkew(time.Duration(skewMS) * time.Millisecond)
			} else if f.Changed("skew") {
				return usageErrorf("--skew needs --now and --timeout")
			}
			t, err := readToken(cmd, args[0])
			if err != nil {
				return err
			}
			if err := v.VerifyToken(&t); err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), "valid")
			return err
		},
	}
	kf.register(cmd)
	f := cmd.Flags()
	f.Uint64Var(&challenge, "challenge", 0, "required challenge (operation handle or enroll challenge)")
	f.StringVar(&typeMask, "type", "", "accepted authenticator types: password, fingerprint, any, none, A|B or N")
	f.Var(&sids, "sid", "accepted secure ID (matches user_id or authenticator_id); repeatable")
	f.Uint64Var(&nowMS, "now", 0, "current time, ms since boot (with --timeout)")
	f.Uint32Var(&timeoutS, "timeout", 0, "maximum token age in seconds (with --now)")
	f.Uint64Var(&skewMS, "skew", uint64(tokens.DefaultClockSkew/time.Millisecond), "allowed clock skew for future timestamps, ms")
	cmd.MarkFlagsRequiredTogether("now", "timeout")
	return cmd
}
