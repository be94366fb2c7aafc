package main

import (
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/se/middleware"
	"github.com/fpemu/fpemu/se/shieldmsg"
)

// The `fpemu se` subcommands of seed 002's issuance and server flows
// (docs/protocol.md §15.6): the CSR out and the CA's PKCS#7 in, the
// server certificate pinned at personalisation, login and pre-submit
// confirmation against `fpemu server`'s /v1/shield endpoints. PINs are
// read from standard input only.

// maxSEInput bounds a certificate or PKCS#7 file read by these commands.
const maxSEInput = 64 << 10

// firstDER returns the first PEM block of type typ in b, or b itself if
// b is not PEM (DER).
func firstDER(b []byte, typ string) ([]byte, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		if blk.Type != typ {
			return nil, fmt.Errorf("PEM block %q, want %q", blk.Type, typ)
		}
		return blk.Bytes, nil
	}
	if len(b) == 0 || b[0] != 0x30 {
		return nil, fmt.Errorf("neither PEM %q nor DER", typ)
	}
	return b, nil
}

func parseDevice(s string) (proof.DeviceID, error) {
	var d proof.DeviceID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(d) {
		return d, usageErrorf("--device: want %d hex digits", 2*len(d))
	}
	copy(d[:], b)
	return d, nil
}

func newSEShieldCmds() []*cobra.Command {
	var (
		csrFlags seClientFlags
		csrOut   string
	)
	csr := &cobra.Command{
		Use:   "csr --socket PATH --share FILE... [-o FILE]",
		Short: "Log in (user PIN on stdin) and export the card's PKCS#10 request (PEM) for `fpemu ca issue --profile shield --device DEVICE_ID`",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pins, err := readPINs(cmd.InOrStdin(), 1)
			if err != nil {
				return err
			}
			return withCard(cmd, csrFlags, func(m *middleware.Card) error {
				if err := m.Login(pins[0]); err != nil {
					return err
				}
				der, err := m.CertRequest()
				if err != nil {
					return err
				}
				return writeOut(cmd, csrOut, ca.EncodeCSR(der))
			})
		},
	}
	csrFlags.register(csr)
	csr.Flags().StringVarP(&csrOut, "out", "o", "", "write the request here instead of stdout")

	var (
		impFlags seClientFlags
		p7Path   string
	)
	imp := &cobra.Command{
		Use:   "import-cert --socket PATH --share FILE... --p7 FILE",
		Short: "Log in (user PIN on stdin) and write the CA's PKCS#7 (PEM or DER, from `fpemu ca issue`) to the card",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := readInput(cmd, p7Path, maxSEInput)
			if err != nil {
				return usageErrorf("--p7: %v", err)
			}
			der, err := firstDER(b, "PKCS7")
			if err != nil {
				return usageErrorf("--p7: %v", err)
			}
			pins, err := readPINs(cmd.InOrStdin(), 1)
			if err != nil {
				return err
			}
			return withCard(cmd, impFlags, func(m *middleware.Card) error {
				if err := m.Login(pins[0]); err != nil {
					return err
				}
				if err := m.ImportCertificate(der); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "certificate imported")
				return nil
			})
		},
	}
	impFlags.register(imp)
	imp.Flags().StringVar(&p7Path, "p7", "", "the CA's PKCS#7 certs-only response")
	_ = imp.MarkFlagRequired("p7")

	var (
		pinFlags seClientFlags
		certPath string
	)
	pinSrv := &cobra.Command{
		Use:   "pin-server --socket PATH --share FILE... --cert FILE",
		Short: "Pin the payment server's signing certificate on the card, once (admin PIN on stdin)",
		Long: `Pins the server's signing certificate — the first certificate of the
file given to 'fpemu server --cert' (PKCS#7 from 'fpemu ca issue', PEM
certificates, or one DER certificate) — on the card (PUT DATA
0105, admin PIN). The card then verifies every login random and pre-submit
against it, and refuses a second pin (6985).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := readInput(cmd, certPath, maxSEInput)
			if err != nil {
				return usageErrorf("--cert: %v", err)
			}
			// the file 'fpemu server --cert' takes: PKCS#7 from 'fpemu ca
			// issue' (leaf first: the signing certificate), PEM or DER
			der, err := firstDER(b, "CERTIFICATE")
			if certs, perr := ca.ParsePKCS7(b); perr == nil && len(certs) > 0 {
				der, err = certs[0].Raw, nil
			}
			if err != nil {
				return usageErrorf("--cert: %v", err)
			}
			pins, err := readPINs(cmd.InOrStdin(), 1)
			if err != nil {
				return err
			}
			return withCard(cmd, pinFlags, func(m *middleware.Card) error {
				if err := m.PinServerCertificate(pins[0], der); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "server certificate pinned")
				return nil
			})
		},
	}
	pinFlags.register(pinSrv)
	pinSrv.Flags().StringVar(&certPath, "cert", "", "the server's certificates as given to fpemu server --cert (first: signing)")
	_ = pinSrv.MarkFlagRequired("cert")

	var (
		loginFlags         seClientFlags
		loginSrv, loginDev string
	)
	login := &cobra.Command{
		Use:   "login --socket PATH --share FILE... --server URL --device HEX",
		Short: "Seed 002 login with the payment server (user PIN on stdin): the card checks the server, the server checks the card",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dev, err := parseDevice(loginDev)
			if err != nil {
				return err
			}
			srv, err := middleware.NewServer(loginSrv, nil)
			if err != nil {
				return usageErrorf("--server: %v", err)
			}
			pins, err := readPINs(cmd.InOrStdin(), 1)
			if err != nil {
				return err
			}
			return withCard(cmd, loginFlags, func(m *middleware.Card) error {
				if err := m.LoginToServer(cmd.Context(), srv, dev, pins[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "logged in device=%s\n", loginDev)
				return nil
			})
		},
	}
	loginFlags.register(login)
	login.Flags().StringVar(&loginSrv, "server", "", "the payment server's merchant API (http://HOST:PORT)")
	login.Flags().StringVar(&loginDev, "device", "", "the device id (32 hex digits) the card logs in for")
	_ = login.MarkFlagRequired("server")
	_ = login.MarkFlagRequired("device")

	var (
		confFlags                   seClientFlags
		confSrv, confDev, confOrder string
	)
	confirm := &cobra.Command{
		Use:   "confirm --socket PATH --share FILE... --server URL --device HEX --order ID",
		Short: "Confirm an order with the card (user PIN on stdin): pre-submit from the server, checked and signed by the card",
		Long: `Seed 002's transaction confirmation: the server issues the order's
pre-submit with a single-use nonce, signed; the command prints what the card
is about to confirm (payee, amount) on standard error; the card checks the
server's signature under its pinned certificate, takes the user PIN and
signs; the server checks and consumes the nonce. Prints
"confirmed presubmit=ID order=ID" — the id the payment then names.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dev, err := parseDevice(confDev)
			if err != nil {
				return err
			}
			srv, err := middleware.NewServer(confSrv, nil)
			if err != nil {
				return usageErrorf("--server: %v", err)
			}
			pins, err := readPINs(cmd.InOrStdin(), 1)
			if err != nil {
				return err
			}
			return withCard(cmd, confFlags, func(m *middleware.Card) error {
				c, err := m.ConfirmOrder(cmd.Context(), srv, dev, confOrder, pins[0], func(ps shieldmsg.PreSubmit) bool {
					showPreSubmit(cmd.ErrOrStderr(), ps)
					return true
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "confirmed presubmit=%s order=%s\n", c.ID, c.PreSubmit.OrderID)
				return nil
			})
		},
	}
	confFlags.register(confirm)
	confirm.Flags().StringVar(&confSrv, "server", "", "the payment server's merchant API (http://HOST:PORT)")
	confirm.Flags().StringVar(&confDev, "device", "", "the device id (32 hex digits)")
	confirm.Flags().StringVar(&confOrder, "order", "", "the order id to confirm")
	for _, f := range []string{"server", "device", "order"} {
		_ = confirm.MarkFlagRequired(f)
	}
	return []*cobra.Command{csr, imp, pinSrv, login, confirm}
}

func showPreSubmit(w io.Writer, ps shieldmsg.PreSubmit) {
	fmt.Fprintf(w, "confirm: pay %d.%02d %s to %q (order %s)\n", ps.Amount/100, ps.Amount%100, ps.Currency, ps.Payee, ps.OrderID)
}
