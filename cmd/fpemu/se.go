package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/se/card"
	"github.com/fpemu/fpemu/se/transport"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/devdir"
)

func init() { subcommands = append(subcommands, newSECmd) }

// seSocketName is the default socket of `fpemu se` in its directory.
const seSocketName = "se.sock"

func newSECmd() *cobra.Command {
	var (
		pf     processFlags
		socket string
		vpcd   string
	)
	c := &cobra.Command{
		Use:   "se --dir DIR [--socket PATH] [--vpcd HOST:PORT]",
		Short: "Run the shield secure element (a virtual ISO 7816 card) on a Unix socket and/or pcscd's vpcd reader",
		Long: `fpemu se runs one shield card — the SIM-sticker secure element of
docs/protocol.md §15 — whose state (PINs, SM2 key, certificate) lives in a
sealed store in DIR (one card per DIR; created owner-only on first use with
the transport PIN 123456 and admin PIN 12345678).

The card is reachable on a Unix socket (--socket, default DIR/se.sock; the
length-prefixed framing of §15.3) and, with --vpcd HOST:PORT, through
pcscd's vsmartcard reader (vpcd, port 35963 by default): any PC/SC program
(opensc-tool, pcsc_scan, pyscard) then sees it as a card. The vpcd
connection is re-established whenever pcscd restarts. SIGINT or SIGTERM
stops it cleanly.

Once the socket is listening it prints one line to stdout:
  se ready socket=PATH
A client may connect as soon as it reads it. The vpcd link is made in
the background, before or after that line, and remade when pcscd
restarts (the log says "vpcd connected" each time). Logs are JSON lines on stderr (component "se").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, lvl, err := pf.parse()
			if err != nil {
				return err
			}
			if vpcd != "" {
				host, port, err := net.SplitHostPort(vpcd)
				if err != nil || host == "" {
					return usageErrorf("--vpcd: want HOST:PORT (e.g. 127.0.0.1:%d)", transport.DefaultVPCDPort)
				}
				if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
					return usageErrorf("--vpcd: bad port %q", port)
				}
			}
			if socket == "" {
				socket = filepath.Join(dir, seSocketName)
			}
			log := tee.NewLoggerTo(cmd.ErrOrStderr(), "se", lvl)
			defer func() { _ = log.Sync() }()
			crd, err := card.Open(dir, card.Options{Logger: log})
			if err != nil {
				return fmt.Errorf("open card: %w", err)
			}
			defer crd.Close()
			ctx, stop := untilSignal(cmd.Context())
			defer stop()
			// Both transports stop when ctx ends; the first error stops both.
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			// The socket is bound and listening before the ready line, so
			// a client that connects on it is served; the vpcd link is
			// made (and remade) in the background.
			ln, err := devdir.Listen(socket)
			if err != nil {
				return fmt.Errorf("--socket: %w", err)
			}
			errs := make(chan error, 2)
			n := 1
			go func() { errs <- transport.ServeListener(ctx, crd.NewSession, ln, log) }()
			if vpcd != "" {
				n++
				go func() { errs <- transport.ServeVPCD(ctx, crd.NewSession, vpcd, log) }()
			}
			log.Info("card ready", zap.String("socket", socket), zap.String("vpcd", vpcd))
			fmt.Fprintf(cmd.OutOrStdout(), "se ready socket=%s\n", socket)
			for range n {
				if e := <-errs; e != nil && err == nil {
					err = e
					cancel()
				}
			}
			if err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			log.Info("card stopped")
			return nil
		},
	}
	pf.register(c, "the card's directory (created 0700 on first use)", "log level: debug, info, warn, error")
	c.Flags().StringVar(&socket, "socket", "", "Unix socket path (default DIR/se.sock)")
	c.Flags().StringVar(&vpcd, "vpcd", "", "connect to pcscd's vpcd reader at HOST:PORT (vsmartcard, default port 35963)")
	c.AddCommand(newSEMiddlewareCmds()...)
	c.AddCommand(newSEShieldCmds()...)
	return c
}
