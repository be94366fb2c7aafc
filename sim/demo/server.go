package demo

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver"
	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/payserver/serverproc"
)

// The payment server side of the demo (docs/protocol.md §13, §14): a CA
// minted in the demo directory with payserver/ca, the server's dual
// certificates issued by it, the payment TA provisioned with the CA root
// as its trust anchor, and `fpemu server` as its own process on loopback
// with a SQLite ledger in the demo directory.

// serverPIDKey names the server process in Report.PIDs.
const serverPIDKey = "server"

// serverName is the name the server's certificate carries and the payment
// TA's trust anchors expect.
const serverName = "pay.fpemu.test"

// Where the server side lives in the demo directory.
const (
	caDirName     = "ca"     // the CA (fpemu ca init layout)
	serverDirName = "server" // the server's certificates, keys, device roots and ledger
)

// serverSide is what the demo holds of the server.
type serverSide struct {
	ca      *ca.CA
	anchors []byte              // payproto.TrustAnchors for the payment TA
	sign    *smx509.Certificate // the server's signing certificate (checks the order summary)
	srvDir  string
	proc    *serverproc.Proc
	http    *http.Client
}

// mintCA creates the demo's CA (payserver/ca, in process), has it issue
// the server's dual certificates for fresh SM2 keys written 0600 in the
// server directory, and builds the payment TA's trust anchors (the CA
// root, serverName) — provisioned at boot, so this runs before the TAs.
func mintCA(r *runner, ctx context.Context, rec *record) error {
	caDir := filepath.Join(r.dir, caDirName)
	c, err := ca.Init(caDir, ca.InitOptions{Options: ca.Options{Logger: newRootLogger(r.cfg.Logs, r.cfg.LogLevel)}})
	if err != nil {
		return fmt.Errorf("CA: %w", err)
	}
	r.srv.ca = c
	r.srv.srvDir = filepath.Join(r.dir, serverDirName)
	if err := os.MkdirAll(r.srv.srvDir, 0o700); err != nil {
		return err
	}
	sk, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	ek, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	scsr, err := ca.NewCSR(rand.Reader, sk, ca.CSRTemplate{CommonName: serverName})
	if err != nil {
		return err
	}
	ecsr, err := ca.NewCSR(rand.Reader, ek, ca.CSRTemplate{CommonName: serverName})
	if err != nil {
		return err
	}
	iss, err := c.Issue(ctx, ca.Request{CSR: scsr, EncCSR: ecsr, Profile: ca.ProfileServer, Usage: ca.UsageDual})
	if err != nil {
		return fmt.Errorf("CA: issue the server's certificates: %w", err)
	}
	if len(iss.Certs) != 2 {
		return fmt.Errorf("CA issued %d server certificates, want the dual pair", len(iss.Certs))
	}
	r.srv.sign = iss.Certs[0]
	var certs []byte
	for _, crt := range iss.Certs {
		certs = append(certs, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: crt.Raw})...)
	}
	if err := os.WriteFile(filepath.Join(r.srv.srvDir, "server.pem"), certs, 0o644); err != nil {
		return err
	}
	if err := ca.WriteKeyFile(filepath.Join(r.srv.srvDir, "server-sign.key"), sk); err != nil {
		return err
	}
	if err := ca.WriteKeyFile(filepath.Join(r.srv.srvDir, "server-enc.key"), ek); err != nil {
		return err
	}
	if r.srv.anchors, err = (payproto.TrustAnchors{ServerName: serverName, Roots: [][]byte{c.Root().Raw}}).Marshal(); err != nil {
		return err
	}
	rec.Add("dir", r.dir)
	rec.Add("ca", caDir)
	rec.Add("root", c.Root().Subject.CommonName)
	rec.Add("server_certs", "sign + enc for "+serverName)
	rec.Add("trust_anchors", "CA root, "+serverName+" (for the payment TA's provisioning record)")
	return nil
}

// channelCerts has the payment TA make its channel key pair (the CSRs
// come out of the TA, the keys never do), the CA issue the device's dual
// certificates for them (their subject names the device id) and the TA
// install them (docs/protocol.md §8.11, §13).
func channelCerts(r *runner, ctx context.Context, rec *record) error {
	scsr, err := payproto.ChannelKey{Kind: payproto.ChannelKeySign}.Execute(ctx, r.pay)
	if err != nil {
		return err
	}
	ecsr, err := payproto.ChannelKey{Kind: payproto.ChannelKeyEnc}.Execute(ctx, r.pay)
	if err != nil {
		return err
	}
	iss, err := r.srv.ca.Issue(ctx, ca.Request{CSR: scsr, EncCSR: ecsr, Profile: ca.ProfileDevice, Usage: ca.UsageDual})
	if err != nil {
		return fmt.Errorf("CA: issue the device's channel certificates: %w", err)
	}
	if len(iss.Certs) != 2 {
		return fmt.Errorf("CA issued %d device certificates, want the dual pair", len(iss.Certs))
	}
	if err := (payproto.InstallChannelCert{Kind: payproto.ChannelKeySign, DER: iss.Certs[0].Raw}).Execute(ctx, r.pay); err != nil {
		return err
	}
	if err := (payproto.InstallChannelCert{Kind: payproto.ChannelKeyEnc, DER: iss.Certs[1].Raw}).Execute(ctx, r.pay); err != nil {
		return err
	}
	rec.Add("subject", iss.Certs[0].Subject.CommonName)
	rec.Add("serials", []string{ca.FormatSerial(iss.Certs[0].SerialNumber), ca.FormatSerial(iss.Certs[1].SerialNumber)})
	rec.Add("keys", "generated in the payment TA; only the CSRs left it")
	return nil
}

// startServer writes the device's attestation key as the server's only
// device root (what a device maker hands the payment server) and starts
// `fpemu server` on loopback with its ledger in SQLite in the demo
// directory, then waits for its ready line.
func startServer(r *runner, ctx context.Context, rec *record) error {
	if r.cfg.ServerCommand == nil {
		return errors.New("demo: Config.ServerCommand is required")
	}
	dev, err := proof.VerifyDeviceCert(r.reg.Device)
	if err != nil {
		return err
	}
	root, err := dev.PublicKey.PEM()
	if err != nil {
		return err
	}
	roots := filepath.Join(r.srv.srvDir, "device-roots.pem")
	if err := os.WriteFile(roots, root, 0o644); err != nil {
		return err
	}
	db := filepath.Join(r.srv.srvDir, "ledger.db")
	factorArgs, err := serverFactorArgs(r.srv.srvDir)
	if err != nil {
		return err
	}
	cmd := r.cfg.ServerCommand(append([]string{"--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--db", "sqlite:" + db,
		"--ca", r.srv.ca.Dir(), "--cert", filepath.Join(r.srv.srvDir, "server.pem"),
		"--key", filepath.Join(r.srv.srvDir, "server-sign.key"), "--enc-key", filepath.Join(r.srv.srvDir, "server-enc.key"),
		"--device-roots", roots, "--name", serverName, "--log-level", r.cfg.LogLevel.String()}, factorArgs...)...)
	p, err := serverproc.Start(ctx, cmd, serverproc.Options{Logs: r.cfg.Logs})
	if p != nil {
		r.srv.proc = p
		r.rep.PIDs[serverPIDKey] = p.PID()
	}
	if err != nil {
		return err
	}
	r.srv.http = &http.Client{Timeout: 10 * time.Second}
	rec.Add("pid", p.PID())
	rec.Add("channel", p.Channel+" (gm-fs)")
	rec.Add("merchant_api", "http://"+p.HTTP)
	rec.Add("db", "sqlite:"+db)
	rec.Add("device_roots", "this device's attestation key")
	rec.Add("policy", "seed 003's example (standard CNY: ≤ 500.00 fingerprint, ≤ 5 000.00 + password, above + OTP)")
	return nil
}

// merchantGet GETs path on the merchant API and decodes the JSON answer
// (at most 1 MiB) into v, returning the HTTP status. Orders are created
// with payserver.CreateOrder.
func (r *runner) merchantGet(ctx context.Context, path string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.srv.proc.HTTP+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := r.srv.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(io.LimitReader(resp.Body, 1<<20))
	if err := dec.Decode(v); err != nil {
		return resp.StatusCode, fmt.Errorf("merchant API GET %s: %d, undecodable answer: %w", path, resp.StatusCode, err)
	}
	return resp.StatusCode, nil
}

// dialServer opens a TCP connection to the server's channel listener.
func (r *runner) dialServer(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", r.srv.proc.Channel)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	return conn, nil
}

// closeServer stops the server process and closes the CA; run by teardown.
func (r *runner) closeServer() error {
	var errs []error
	if r.srv.proc != nil {
		errs = append(errs, r.srv.proc.Stop(DefaultStopGrace))
	}
	if r.srv.ca != nil {
		errs = append(errs, r.srv.ca.Close())
		r.srv.ca = nil
	}
	return errors.Join(errs...)
}

// orderJSON aliases the merchant API's order for the steps.
type orderJSON = payserver.OrderJSON
