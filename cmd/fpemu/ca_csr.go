package main

import (
	"crypto/rand"
	"errors"
	"io/fs"
	"net"
	"os"

	"github.com/emmansun/gmsm/sm2"
	"github.com/spf13/cobra"

	"github.com/fpemu/fpemu/payserver/ca"
)

func newCACSRCmd() *cobra.Command {
	var (
		keyPath, cn, org, out, format string
		newKey                        bool
		dnsNames, ips                 []string
	)
	cmd := &cobra.Command{
		Use:   "csr --key FILE [--new-key] --cn NAME [--org O] [--dns NAME]... [--ip ADDR]...",
		Short: "Make an SM2 PKCS#10 request for a key file (no OpenSSL needed)",
		Long: `Write a PKCS#10 certificate request signed with SM2-with-SM3 (default user ID)
for the SM2 private key in --key (PEM: PKCS#8 "PRIVATE KEY", as 'openssl genpkey
-algorithm SM2' writes, or SEC 1 "EC PRIVATE KEY"; mode 0600 or stricter). With
--new-key a new key is generated into --key first (a new file, mode 0600; an
existing file is never replaced). The key itself is never printed.`,
		Example: `  fpemu ca csr --key dev-sign.key --new-key --cn device-0001 > sign.csr
  fpemu ca csr --key srv-sign.key --new-key --cn pay.example.test --dns localhost --ip 127.0.0.1 > srv.csr`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			t := ca.CSRTemplate{CommonName: cn, Organization: org, DNSNames: dnsNames}
			for _, s := range ips {
				ip := net.ParseIP(s)
				if ip == nil {
					return usageErrorf("--ip %q: not an IP address", s)
				}
				t.IPAddresses = append(t.IPAddresses, ip)
			}
			var key *sm2.PrivateKey
			var err error
			if newKey {
				if _, err := os.Lstat(keyPath); !errors.Is(err, fs.ErrNotExist) {
					return usageErrorf("--new-key: %s exists; it is never replaced", keyPath)
				}
				if key, err = sm2.GenerateKey(rand.Reader); err != nil {
					return err
				}
				if err := ca.WriteKeyFile(keyPath, key); err != nil {
					return err
				}
			} else if key, err = ca.ReadKeyFile(keyPath); err != nil {
				return err
			}
			der, err := ca.NewCSR(rand.Reader, key, t)
			if err != nil {
				return err
			}
			return writeFormatted(cmd, out, format, der, ca.EncodeCSR)
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyPath, "key", "", "SM2 private key file")
	f.BoolVar(&newKey, "new-key", false, "generate a new key into --key first")
	f.StringVar(&cn, "cn", "", "subject commonName (device id, or the server's host name)")
	f.StringVar(&org, "org", "", "subject organizationName")
	f.StringSliceVar(&dnsNames, "dns", nil, "DNS subject alternative name (repeatable; server profile)")
	f.StringSliceVar(&ips, "ip", nil, "IP subject alternative name (repeatable; server profile)")
	f.StringVarP(&out, "out", "o", "", "write the request here instead of stdout")
	f.StringVar(&format, "format", "pem", "pem or der")
	_ = cmd.MarkFlagRequired("key")
	_ = cmd.MarkFlagRequired("cn")
	return cmd
}
