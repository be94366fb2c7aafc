package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fpemu/fpemu/payserver/ca"
)

func init() { subcommands = append(subcommands, newCACmd) }

func newCACmd() *cobra.Command {
	return newGroup("ca", "Run fpemu's SM2 certificate authority (issue, revoke, CRL, register)",
		`fpemu ca is a certificate authority for the trusted channel's SM2 dual
certificates (docs/protocol.md, "Certificate authority"). Its directory (--dir)
holds the root key (ca.key, mode 0600, never printed or logged), the root
certificate (root.pem) and the SQLite register of what it issued
(register.db); the directory must be yours and not writable by others.

Exit status: 0 success; 1 request refused (bad signature, non-SM2 key, duplicate,
subject or validity the profile forbids, unknown serial …) or a run-time
failure; 2 usage error.`,
		newCAInitCmd(), newCAIssueCmd(), newCARevokeCmd(), newCACRLCmd(), newCAListCmd(), newCACSRCmd())
}

// writeOut writes b to path (a new or replaced file, mode 0644: only
// public material is written this way) or to stdout when path is "" or "-".
func writeOut(cmd *cobra.Command, path string, b []byte) error {
	if path == "" || path == "-" {
		_, err := cmd.OutOrStdout().Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// writeFormatted writes der as writeOut does, first armoured by pem when
// --format is "pem".
func writeFormatted(cmd *cobra.Command, path, format string, der []byte, pem func([]byte) []byte) error {
	if format == "pem" {
		der = pem(der)
	}
	return writeOut(cmd, path, der)
}

// readInput reads at most max bytes from path ("-" is stdin); more is
// refused rather than truncated.
func readInput(cmd *cobra.Command, path string, max int) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		r = cmd.InOrStdin()
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ca.ErrTooLarge, path, max)
	}
	return b, nil
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

func checkFormat(f string) error {
	if f != "pem" && f != "der" {
		return usageErrorf("--format %q: want pem or der", f)
	}
	return nil
}

func newCAInitCmd() *cobra.Command {
	var (
		dir, cn, org string
		nDays        int
	)
	cmd := &cobra.Command{
		Use:   "init --dir DIR [--cn NAME] [--org NAME] [--days N]",
		Short: "Create a CA: a new SM2 root key, its self-signed root and an empty register",
		Long: `Create the CA directory (mode 0700) with a new SM2 root key (ca.key, 0600), a
self-signed SM2 root certificate (root.pem: keyCertSign, cRLSign, path length 0)
and an empty register. Refuses a directory that already holds a CA. Prints the
root certificate.`,
		Example: `  fpemu ca init --dir ./ca --cn "fpemu root CA" --days 3650`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if nDays < 0 {
				return usageErrorf("--days must be positive")
			}
			c, err := ca.Init(dir, ca.InitOptions{CommonName: cn, Organization: org, Validity: days(nDays)})
			if err != nil {
				return err
			}
			defer c.Close()
			return writeOut(cmd, "", c.RootPEM())
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "CA directory (created if missing)")
	f.StringVar(&cn, "cn", ca.DefaultRootName, "root subject commonName")
	f.StringVar(&org, "org", "", "root subject organizationName")
	f.IntVar(&nDays, "days", 0, "root validity in days (default 3650)")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func newCAIssueCmd() *cobra.Command {
	var (
		dir, csrPath, encPath, profile, usage, out, format, device string
		nDays                                                      int
	)
	cmd := &cobra.Command{
		Use:   "issue --dir DIR --csr FILE --profile device|server|shield [--usage sign|enc|dual --enc-csr FILE] [--device ID] [--days N]",
		Short: "Issue SM2 certificates from PKCS#10 requests; print them as PKCS#7 certs-only",
		Long: `Check a PKCS#10 request (PEM or DER, at most 16 KiB; "-" reads stdin) — its
self-signature, an SM2 key signed with SM2-with-SM3, never seen before, a
subject the profile allows — and issue an SM2 certificate:

  --usage sign  a signing certificate (digitalSignature, nonRepudiation)
  --usage enc   an encryption certificate (keyEncipherment, dataEncipherment,
                keyAgreement)
  --usage dual  both, from --csr (the signing key's request) and --enc-csr (the
                encryption key's: same subject, another key), as GM/T 0015-2012
                Annex C tables C.3 and C.4 describe

device: commonName a device id (letters, digits, '-', '_'), no alternative names,
extKeyUsage clientAuth, default 730 days. server: commonName a lowercase host
name, DNS and IP alternative names, extKeyUsage serverAuth, default 397 days.
shield: a card's signing certificate (sign only, the card policy of §13);
--device names the phone (32 lower-case hex digits) the card is issued for,
the certificate's commonName in place of the card's: the payment server logs
a card in only as that device.

Prints (or writes to --out) a PKCS#7 certs-only message: the new certificates,
signing first, then the root; --format der for DER.`,
		Example: `  fpemu ca csr --key dev-sign.key --new-key --cn device-0001 > sign.csr
  fpemu ca csr --key dev-enc.key --new-key --cn device-0001 > enc.csr
  fpemu ca issue --dir ./ca --profile device --usage dual --csr sign.csr --enc-csr enc.csr > device.p7b
  openssl pkcs7 -in device.p7b -print_certs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			switch ca.Profile(profile) {
			case ca.ProfileDevice, ca.ProfileServer, ca.ProfileShield:
			default:
				return usageErrorf("--profile %q: want device, server or shield", profile)
			}
			switch ca.Usage(usage) {
			case ca.UsageSign, ca.UsageEnc:
				if encPath != "" {
					return usageErrorf("--enc-csr is only for --usage dual")
				}
			case ca.UsageDual:
				if encPath == "" {
					return usageErrorf("--usage dual needs --enc-csr")
				}
			default:
				return usageErrorf("--usage %q: want sign, enc or dual", usage)
			}
			if nDays < 0 {
				return usageErrorf("--days must be positive")
			}
			if device != "" && ca.Profile(profile) != ca.ProfileShield {
				return usageErrorf("--device is only for --profile shield")
			}
			req := ca.Request{Profile: ca.Profile(profile), Usage: ca.Usage(usage), Validity: days(nDays), Device: device}
			var err error
			if req.CSR, err = readInput(cmd, csrPath, ca.MaxCSRSize); err != nil {
				return err
			}
			if encPath != "" {
				if req.EncCSR, err = readInput(cmd, encPath, ca.MaxCSRSize); err != nil {
					return err
				}
			}
			c, err := ca.Open(dir, ca.Options{})
			if err != nil {
				return err
			}
			defer c.Close()
			is, err := c.Issue(cmd.Context(), req)
			if err != nil {
				return err
			}
			p7, err := is.PKCS7()
			if err != nil {
				return err
			}
			for _, cert := range is.Certs {
				fmt.Fprintf(cmd.ErrOrStderr(), "issued %s %s serial %s until %s\n", profile, cert.Subject,
					ca.FormatSerial(cert.SerialNumber), cert.NotAfter.UTC().Format(time.RFC3339))
			}
			return writeFormatted(cmd, out, format, p7, ca.EncodePKCS7)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "CA directory")
	f.StringVar(&csrPath, "csr", "", `PKCS#10 request, PEM or DER ("-" for stdin); the signing key's for dual`)
	f.StringVar(&encPath, "enc-csr", "", "the encryption key's request (--usage dual)")
	f.StringVar(&profile, "profile", "", "device, server or shield (a shield card: sign only, certificate policy of §13)")
	f.StringVar(&usage, "usage", "sign", "sign, enc or dual")
	f.StringVar(&device, "device", "", "profile shield: the device id (32 lower-case hex) the card is issued for")
	f.IntVar(&nDays, "days", 0, "validity in days (default: device 730, server 397; at most 1825)")
	f.StringVarP(&out, "out", "o", "", "write the PKCS#7 here instead of stdout")
	f.StringVar(&format, "format", "pem", "pem or der")
	_ = cmd.MarkFlagRequired("dir")
	_ = cmd.MarkFlagRequired("csr")
	_ = cmd.MarkFlagRequired("profile")
	return cmd
}

func newCARevokeCmd() *cobra.Command {
	var dir, serial, reason string
	cmd := &cobra.Command{
		Use:   "revoke --dir DIR --serial HEX [--reason NAME]",
		Short: "Revoke a certificate (and the other half of its dual pair)",
		Long: `Mark a certificate revoked in the register; the other certificate of a dual pair
is revoked with it. --serial is hex as 'fpemu ca list' prints it (colons as
OpenSSL prints them are accepted). --reason is an RFC 5280 CRLReason name:
unspecified (default), keyCompromise, affiliationChanged, superseded,
cessationOfOperation, privilegeWithdrawn. Run 'fpemu ca crl' to publish it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := ca.ParseSerial(serial)
			if err != nil {
				return usageError(err)
			}
			code, err := ca.ParseReason(reason)
			if err != nil {
				return usageError(err)
			}
			c, err := ca.Open(dir, ca.Options{})
			if err != nil {
				return err
			}
			defer c.Close()
			revoked, err := c.Revoke(cmd.Context(), n, code)
			if err != nil {
				return err
			}
			for _, s := range revoked {
				fmt.Fprintf(cmd.OutOrStdout(), "revoked %s (%s)\n", ca.FormatSerial(s), reason)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "CA directory")
	f.StringVar(&serial, "serial", "", "serial number, hex")
	f.StringVar(&reason, "reason", "unspecified", "RFC 5280 revocation reason")
	_ = cmd.MarkFlagRequired("dir")
	_ = cmd.MarkFlagRequired("serial")
	return cmd
}

func newCACRLCmd() *cobra.Command {
	var (
		dir, out, format string
		nDays            int
	)
	cmd := &cobra.Command{
		Use:   "crl --dir DIR [--days N] [--format pem|der] [--out FILE]",
		Short: "Sign and print a CRL of the revoked certificates",
		Long: `Sign an X.509 v2 CRL with the root key: every revoked certificate not yet
expired with its revocation date and reason, thisUpdate now, nextUpdate in --days
(default 7, at most 90), and a cRLNumber one above the last one issued.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			if nDays < 0 {
				return usageErrorf("--days must be positive")
			}
			c, err := ca.Open(dir, ca.Options{})
			if err != nil {
				return err
			}
			defer c.Close()
			der, err := c.CRL(cmd.Context(), days(nDays))
			if err != nil {
				return err
			}
			return writeFormatted(cmd, out, format, der, ca.EncodeCRL)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "CA directory")
	f.IntVar(&nDays, "days", 0, "days until nextUpdate (default 7)")
	f.StringVarP(&out, "out", "o", "", "write the CRL here instead of stdout")
	f.StringVar(&format, "format", "pem", "pem or der")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func newCAListCmd() *cobra.Command {
	var (
		dir    string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list --dir DIR [--json]",
		Short: "List the register: serial, status, profile, usage, subject, validity",
		Long: `List every certificate the CA issued, oldest first: serial (hex), status (valid,
revoked, expired), profile, usage, subject and notAfter. --json prints one JSON
array of objects (serial, subject, profile, usage, pair, not_before, not_after,
issued_at, status, revoked_at, reason).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := ca.Open(dir, ca.Options{})
			if err != nil {
				return err
			}
			defer c.Close()
			recs, err := c.List(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				if recs == nil {
					recs = []ca.Record{}
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				return enc.Encode(recs)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "SERIAL\tSTATUS\tPROFILE\tUSAGE\tNOT AFTER\tSUBJECT")
			for _, r := range recs {
				status := r.Status
				if r.Reason != "" {
					status += "(" + r.Reason + ")"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Serial, status, r.Profile, r.Usage,
					r.NotAfter.Format(time.RFC3339), strings.ReplaceAll(r.Subject, "\t", " "))
			}
			return w.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "CA directory")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}
