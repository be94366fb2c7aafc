package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/payserver"
	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/payserver/serverproc"
	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/payserver/verify"
	"github.com/fpemu/fpemu/tee"
)

func init() { subcommands = append(subcommands, newServerCmd) }

// maxRootsFile bounds --device-roots.
const maxRootsFile = 16 << 20

func newServerCmd() *cobra.Command {
	var (
		listen, httpAddr, dbURL, caDir, certFile, keyFile, encKeyFile, rootsFile, name, profiles, level string
		policyFile, defaultTier, otpKeyFile, otpAlg                                                     string
		maxConns                                                                                        int
		handshake, idle, ttl, window, prune, shutdown                                                   time.Duration
	)
	c := &cobra.Command{
		Use:   "server",
		Short: "Run the payment server: trusted channel on TCP, merchant HTTP/JSON API on loopback",
		Long: `fpemu server is the payment server (docs/protocol.md §14).

The trusted channel (docs/protocol.md §11; gm-fs by default, --profiles to
also accept gm) listens on --listen. Each connection is one payment app
carrying its payment TA's channel: the device authenticates with the SM2
dual certificates the CA (--ca) issued it, whose subject names its device id.
Over the channel the app registers scene keys (the TA's attestation chain
device → app → scene, whose device key must be in --device-roots, PEM
PUBLIC KEY blocks), asks for a challenge for an order (answered with the
order summary signed by the server — what the user must see before touching
the sensor), and pays (the TA's signed statement, whose payload is the order
binding of §14.4); the server verifies every rule, books the payment in one
transaction and seals the feedback back (booked, or refused with the rule).

The merchant API listens on --http, which must be a loopback address:
  POST /v1/orders       Idempotency-Key header, JSON {"payee","amount","currency","summary"}
  GET  /v1/orders/{id}
  GET  /v1/ledger?after=N&limit=M
  GET|PUT /v1/devices/{id}/tier  JSON {"tier"}: the customer tier of a device

n-factor payments (docs/protocol.md §16.4, seed 003): --policy FILE (the
policy file of §16.1) decides from the device's customer tier (recorded by
PUT /v1/devices/{id}/tier, else --default-tier) and the order's amount and
currency which factors a payment needs — fingerprint, password (the payment
TA checked a Gatekeeper PASSWORD token, said inside the signed statement),
otp (a one-time code, seeded over the channel, never accepted twice), shield
(not served yet: never satisfied). The signed order summary names them; a
payment lacking one is refused with rule "factors" naming the missing ones.
--otp-key FILE (32 hex digits, mode 0600) is the SM4 key that seals OTP
seeds in the database; without it no codes are enrolled.

Storage (--db): sqlite:PATH (default sqlite:fpemu-server.db) or
postgres://… (several servers may share one PostgreSQL database).

The server's channel credentials: --cert (PEM certificates or PKCS#7 from
'fpemu ca issue --usage dual', signing first), --key and --enc-key (SM2
PKCS#8 PEM, mode 0600); without them it has the CA in --ca issue it a fresh
pair for --name at start (keys only in memory). Device channel certificates
must chain to the root in --ca.

Bounds: --max-conns connections (more are closed at once), --handshake-timeout
per handshake, --idle-timeout between records, merchant bodies of 16 KiB.
Expired challenges and request ids past the replay window are pruned every
--prune-every. SIGINT or SIGTERM stops it gracefully (listeners closed,
connections ended, HTTP drained within --shutdown-timeout, store closed).

When both listeners are up it prints one line to stdout:
  ready channel=HOST:PORT http=HOST:PORT
Logs are JSON lines on stderr (component payserver, merchant, store).

Exit status: 0 after a clean shutdown; 1 a run-time failure; 2 usage error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lvl, err := parseLogLevel(level)
			if err != nil {
				return err
			}
			if caDir == "" || rootsFile == "" {
				return usageErrorf("--ca and --device-roots are required")
			}
			if (certFile == "") != (keyFile == "") || (certFile == "") != (encKeyFile == "") {
				return usageErrorf("--cert, --key and --enc-key go together")
			}
			if err := loopbackOnly(httpAddr); err != nil {
				return err
			}
			var profs []chanwire.Profile
			for _, p := range strings.Split(profiles, ",") {
				switch strings.TrimSpace(p) {
				case "gm-fs":
					profs = append(profs, chanwire.ProfileGMFS)
				case "gm":
					profs = append(profs, chanwire.ProfileGM)
				default:
					return usageErrorf("--profiles: %q (want gm-fs and/or gm)", p)
				}
			}
			// The store and payserver add their own component (store,
			// payserver, merchant, shield) to root; the command's lines
			// are component server.
			root := tee.NewRootLoggerTo(cmd.ErrOrStderr(), lvl)
			defer func() { _ = root.Sync() }()
			log := root.With(zap.String("component", "server"))
			ctx, stop := untilSignal(cmd.Context())
			defer stop()

			rb, err := readInput(cmd, rootsFile, maxRootsFile)
			if err != nil {
				return usageErrorf("--device-roots: %v", err)
			}
			roots, err := verify.ParseRoots(rb)
			if err != nil {
				return usageErrorf("--device-roots: %v", err)
			}
			var creds *channel.SM2Credentials
			pool, err := payserver.ReadRoots(filepath.Join(caDir, ca.RootFile))
			if err != nil {
				return usageErrorf("--ca: %v", err)
			}
			if certFile != "" {
				if creds, err = payserver.LoadCredentials(certFile, keyFile, encKeyFile); err != nil {
					return usageErrorf("--cert/--key/--enc-key: %v", err)
				}
			} else if creds, pool, err = payserver.IssueCredentials(ctx, caDir, name); err != nil {
				return usageErrorf("--ca: issuing the server's certificates: %v", err)
			}
			st, err := payserver.OpenStore(ctx, dbURL, store.Options{ChallengeTTL: ttl, ReplayWindow: window, Logger: root})
			if err != nil {
				if errors.Is(err, store.ErrInvalid) {
					return usageErrorf("--db: %v", err)
				}
				return fmt.Errorf("--db: %w", err)
			}
			defer st.Close()
			factors, err := serverFactors(policyFile, defaultTier, otpKeyFile, otpAlg)
			if err != nil {
				return err
			}
			srv, err := payserver.New(payserver.Config{Store: st, Roots: roots, Logger: root, MaxConns: maxConns,
				HandshakeTimeout: handshake, IdleTimeout: idle, PruneEvery: prune, Factors: factors,
				Channel: channel.ServerConfig{Profiles: profs, Credentials: creds, Roots: pool}})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen: %w", err)
			}
			hln, err := net.Listen("tcp", httpAddr)
			if err != nil {
				_ = ln.Close()
				return fmt.Errorf("--http: %w", err)
			}
			hs := &http.Server{Handler: srv.MerchantHandler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
				WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
			errc := make(chan error, 2)
			go func() { errc <- srv.ServeChannel(ctx, ln) }()
			go func() {
				if err := hs.Serve(hln); !errors.Is(err, http.ErrServerClosed) {
					errc <- err
					return
				}
				errc <- nil
			}()
			pctx, pcancel := context.WithCancel(ctx)
			go srv.RunPrune(pctx)
			log.Info("listening", zap.String("channel", ln.Addr().String()), zap.String("http", hln.Addr().String()),
				zap.String("db", strings.SplitN(dbURL, ":", 2)[0]), zap.Int("device_roots", roots.Len()))
			fmt.Fprintln(cmd.OutOrStdout(), serverproc.ReadyLine(ln.Addr().String(), hln.Addr().String()))

			var runErr error
			select {
			case <-ctx.Done():
			case runErr = <-errc:
			}
			stop()
			pcancel()
			sctx, cancel := context.WithTimeout(context.Background(), shutdown)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil && runErr == nil {
				runErr = err
			}
			if runErr == nil {
				runErr = <-errc
			}
			log.Info("stopped", zap.NamedError("reason", runErr))
			return runErr
		},
	}
	f := c.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:7400", "trusted-channel TCP address")
	f.StringVar(&httpAddr, "http", "127.0.0.1:7401", "merchant API address (loopback only)")
	f.StringVar(&dbURL, "db", "sqlite:fpemu-server.db", "storage: sqlite:PATH or postgres://…")
	f.StringVar(&caDir, "ca", "", "CA directory (fpemu ca init): root of device channel certificates; issues the server's pair without --cert")
	f.StringVar(&certFile, "cert", "", "server signing + encryption certificates (PEM or PKCS#7)")
	f.StringVar(&keyFile, "key", "", "server signing key (SM2 PKCS#8 PEM, mode 0600)")
	f.StringVar(&encKeyFile, "enc-key", "", "server encryption key (SM2 PKCS#8 PEM, mode 0600)")
	f.StringVar(&rootsFile, "device-roots", "", "trusted device attestation keys (PEM PUBLIC KEY blocks)")
	f.StringVar(&name, "name", "pay.fpemu.test", "server name for certificates issued with --ca (what devices expect)")
	f.StringVar(&profiles, "profiles", "gm-fs", "channel profiles accepted, strongest first: gm-fs[,gm]")
	f.IntVar(&maxConns, "max-conns", payserver.DefaultMaxConns, "maximum concurrent channel connections")
	f.DurationVar(&handshake, "handshake-timeout", payserver.DefaultHandshakeTimeout, "time a channel handshake may take")
	f.DurationVar(&idle, "idle-timeout", payserver.DefaultIdleTimeout, "time a connection may wait between records")
	f.DurationVar(&ttl, "challenge-ttl", store.DefaultChallengeTTL, "lifetime of a challenge")
	f.DurationVar(&window, "replay-window", store.DefaultReplayWindow, "how long booked request ids are remembered")
	f.DurationVar(&prune, "prune-every", payserver.DefaultPruneEvery, "interval of store pruning")
	f.DurationVar(&shutdown, "shutdown-timeout", 10*time.Second, "time to drain the merchant API at shutdown")
	f.StringVar(&level, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&policyFile, "policy", "", "n-factor policy file (docs/protocol.md §16.1); none: fingerprint only")
	f.StringVar(&defaultTier, "default-tier", "standard", "customer tier of a device without a recorded one (with --policy)")
	f.StringVar(&otpKeyFile, "otp-key", "", "OTP seed sealing key file (32 hex digits, mode 0600); none: no one-time codes")
	f.StringVar(&otpAlg, "otp-algorithm", "sm3", "algorithm of enrolled OTP seeds: sm3 (GM/T 0021), totp-sha1, totp-sha256 (RFC 6238)")
	return c
}

// loopbackOnly refuses a merchant address that is not loopback: the
// merchant API has no authentication of its own.
func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErrorf("--http %q: %v", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return usageErrorf("--http %q: the merchant API listens on loopback only", addr)
	}
	return nil
}
