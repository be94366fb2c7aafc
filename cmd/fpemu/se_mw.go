package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fpemu/fpemu/se/middleware"
	"github.com/fpemu/fpemu/se/transport"
)

// The middleware subcommands of `fpemu se` (docs/protocol.md §15.5). PINs
// are read from standard input, one per line, never from argv or the
// environment.

type seClientFlags struct {
	socket string
	shares []string
}

func (f *seClientFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.socket, "socket", "", "the card's Unix socket (fpemu se --socket)")
	c.Flags().StringArrayVar(&f.shares, "share", nil, "a key-share file (repeat; put them in different places)")
	_ = c.MarkFlagRequired("socket")
}

// readPINs reads n lines from r.
func readPINs(r io.Reader, n int) ([]string, error) {
	sc := bufio.NewScanner(io.LimitReader(r, 4096))
	var out []string
	for len(out) < n && sc.Scan() {
		out = append(out, strings.TrimSpace(sc.Text()))
	}
	if len(out) < n {
		return nil, usageErrorf("want %d PIN line(s) on standard input, got %d", n, len(out))
	}
	return out, nil
}

func dialCard(ctx context.Context, f seClientFlags) (*transport.Client, error) {
	cl, err := transport.Dial(ctx, f.socket)
	if err != nil {
		return nil, fmt.Errorf("connect to the card: %w", err)
	}
	return cl, nil
}

// withCard opens a secure-messaging session and runs fn.
func withCard(cmd *cobra.Command, f seClientFlags, fn func(*middleware.Card) error) error {
	if len(f.shares) == 0 {
		return usageErrorf("--share: at least one key-share file")
	}
	cl, err := dialCard(cmd.Context(), f)
	if err != nil {
		return err
	}
	defer cl.Close()
	m, err := middleware.Open(cl, f.shares, nil)
	if err != nil {
		return err
	}
	defer m.Close()
	return fn(m)
}

func newSEMiddlewareCmds() []*cobra.Command {
	var (
		pf        seClientFlags
		threshold int
	)
	personalise := &cobra.Command{
		Use:   "personalise --socket PATH --share FILE --share FILE ... [--threshold K]",
		Short: "Have the card generate its secure-messaging key and split it into share files (admin PIN on stdin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pins, err := readPINs(cmd.InOrStdin(), 1)
			if err != nil {
				return err
			}
			cl, err := dialCard(cmd.Context(), pf)
			if err != nil {
				return err
			}
			defer cl.Close()
			if err := middleware.Personalise(cl, pins[0], pf.shares, threshold, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "personalised: %d shares, any %d open the card\n", len(pf.shares), threshold)
			return nil
		},
	}
	pf.register(personalise)
	personalise.Flags().IntVar(&threshold, "threshold", 2, "shares needed to recover the key")

	var sf seClientFlags
	status := &cobra.Command{
		Use:   "pin-status --socket PATH --share FILE...",
		Short: "Print the user PIN's tries left (spends none)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCard(cmd, sf, func(m *middleware.Card) error {
				n, _, err := m.PINStatus()
				if errors.Is(err, middleware.ErrBlocked) {
					fmt.Fprintln(cmd.OutOrStdout(), "blocked")
					return nil
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "tries left %d\n", n)
				return nil
			})
		},
	}
	sf.register(status)

	var cf seClientFlags
	change := &cobra.Command{
		Use:   "pin-change --socket PATH --share FILE...",
		Short: "Change the user PIN (old and new PIN on stdin, one a line)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pins, err := readPINs(cmd.InOrStdin(), 2)
			if err != nil {
				return err
			}
			return withCard(cmd, cf, func(m *middleware.Card) error { return m.ChangePIN(pins[0], pins[1]) })
		},
	}
	cf.register(change)

	var uf seClientFlags
	unblock := &cobra.Command{
		Use:   "pin-unblock --socket PATH --share FILE...",
		Short: "Set a new user PIN with the admin PIN (admin PIN and new PIN on stdin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pins, err := readPINs(cmd.InOrStdin(), 2)
			if err != nil {
				return err
			}
			return withCard(cmd, uf, func(m *middleware.Card) error { return m.Unblock(pins[0], pins[1]) })
		},
	}
	uf.register(unblock)

	var gf seClientFlags
	var msg string
	sign := &cobra.Command{
		Use:   "sign --socket PATH --share FILE... --message TEXT",
		Short: "Log in (user PIN on stdin) and have the card sign a transaction; prints the DER signature in hex",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pins, err := readPINs(cmd.InOrStdin(), 1)
			if err != nil {
				return err
			}
			return withCard(cmd, gf, func(m *middleware.Card) error {
				if err := m.Login(pins[0]); err != nil {
					return err
				}
				sig, err := m.SignTransaction([]byte(msg))
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), hex.EncodeToString(sig))
				return nil
			})
		},
	}
	gf.register(sign)
	sign.Flags().StringVar(&msg, "message", "", "the transaction text to sign")
	_ = sign.MarkFlagRequired("message")

	var kf seClientFlags
	keygen := &cobra.Command{
		Use:   "keygen --socket PATH --share FILE...",
		Short: "Log in (user PIN on stdin) and generate the card's SM2 key; prints the public key 04‖X‖Y in hex",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pins, err := readPINs(cmd.InOrStdin(), 1)
			if err != nil {
				return err
			}
			return withCard(cmd, kf, func(m *middleware.Card) error {
				if err := m.Login(pins[0]); err != nil {
					return err
				}
				pub, err := m.GenerateKey()
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), hex.EncodeToString(pub))
				return nil
			})
		},
	}
	kf.register(keygen)
	return []*cobra.Command{personalise, status, change, unblock, keygen, sign}
}
