package tas

import (
	"bytes"
	"context"
	"fmt"

	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/bio/payment"
	"github.com/fpemu/fpemu/keymaster"
	"github.com/fpemu/fpemu/ta/fingerprint"
	"github.com/fpemu/fpemu/ta/gatekeeper"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tee/tacore"
	"github.com/fpemu/fpemu/tee/taproc"
	"github.com/fpemu/fpemu/tokens"
)

// Factory returns the taproc factory that builds role's TA from its
// provisioning, or an error for a role fpemu cannot run yet. It is the
// wiring `fpemu ta <role>` (cmd/fpemu) and the test binaries share.
func Factory(role tee.Role) (taproc.Factory, error) {
	switch role {
	case tee.RoleKeymaster:
		return newKeymaster, nil
	case tee.RoleGatekeeper:
		return newGatekeeper, nil
	case tee.RolePayment:
		return newPayment, nil
	case tee.RoleFingerprint:
		return newFingerprint, nil
	}
	return nil, fmt.Errorf("tas: no TA implementation for role %q", string(role))
}

// newKeymaster builds the Keymaster TA of keymasterConfig.
func newKeymaster(env *taproc.Env) (rpc.TA, error) {
	return keymaster.NewTA(keymasterConfig(env))
}

// keymasterConfig is the Keymaster TA's configuration: its storage key
// (key-blob sealing), its envelope Sealer (auth-token key distribution)
// and the boot clock (HAT freshness). Its auth-token key is drawn per
// process.
func keymasterConfig(env *taproc.Env) keymaster.Config {
	return keymaster.Config{
		Config: tacore.Config{
			Self:         env.UUID,
			StorageKey:   env.Record.StorageKey[:],
			Clock:        env.Clock,
			Logger:       env.Log,
			MACAlgorithm: tokens.HMACSHA256,
		},
		Sealer: env.Sealer,
	}
}

// newGatekeeper builds the Gatekeeper TA over its sealed store in the data
// directory, with its rollback counter outside it (RPMB stand-in) and its
// envelope Opener keyed from the record; replay marks persist in the
// store, scoped to the BootID, so a restart cannot be fed an old
// envelope.
func newGatekeeper(env *taproc.Env) (rpc.TA, error) {
	base, err := baseConfig(env)
	if err != nil {
		return nil, err
	}
	return gatekeeper.NewTA(gatekeeper.Config{Config: base})
}

// baseConfig is the shared part of a store-backed TA's configuration
// (tacore.Config) from its provisioning: its identity, a copy of its
// storage key, its sealed store in the data directory with the rollback
// counter outside it (sealedStore), its envelope keys and boot id, the
// device's HAT MAC algorithm, the boot clock and its logger.
func baseConfig(env *taproc.Env) (tacore.Config, error) {
	sk, storeOpts, err := sealedStore(env)
	if err != nil {
		return tacore.Config{}, err
	}
	return tacore.Config{
		Self:         env.UUID,
		StorageKey:   sk,
		DBPath:       env.DBPath,
		StoreOptions: storeOpts,
		Keys:         env.Record.Keys,
		BootID:       env.Record.BootID[:],
		MACAlgorithm: tokens.HMACSHA256,
		Clock:        env.Clock,
		Logger:       env.Log,
	}, nil
}

// sealedStore returns what a store-backed TA needs to open its sealed
// store: a copy of its storage key and the rollback counter (RPMB
// stand-in) kept outside the REE-writable data directory.
func sealedStore(env *taproc.Env) ([]byte, []store.Option, error) {
	d := store.DurabilityProcess
	if env.Durability != "" {
		var err error
		if d, err = store.ParseDurability(env.Durability); err != nil {
			return nil, nil, err
		}
	}
	sk := append([]byte(nil), env.Record.StorageKey[:]...)
	ctr, err := store.OpenFileCounter(env.CounterPath, sk, store.CounterDurability(d))
	if err != nil {
		return nil, nil, err
	}
	return sk, []store.Option{store.WithCounter(ctr), store.WithDurability(d)}, nil
}

// newFingerprint builds the fingerprint TA like the Gatekeeper (sealed
// store, rollback counter, persisted replay marks), with a fresh virtual
// sensor — served on its own control socket through taproc.Endpointer —
// and a bio.Sender that seals auth results and finger lists for the
// payment TA into the outbox FETCH_OUTBOX drains.
func newFingerprint(env *taproc.Env) (rpc.TA, error) { return FingerprintFactory()(env) }

// FingerprintFactory is Factory(tee.RoleFingerprint) with each of mut
// applied to the TA's configuration before it is built: the secure-world
// build options a test binary's TA child uses (a shorter timed lockout, a
// deliberately weakened matcher for a canary). `fpemu ta` never takes
// them.
func FingerprintFactory(mut ...func(*fingerprint.Config, *taproc.Env)) taproc.Factory {
	return func(env *taproc.Env) (rpc.TA, error) {
		base, err := baseConfig(env)
		if err != nil {
			return nil, err
		}
		hook, err := bio.NewSender(env.Sealer, env.Clock)
		if err != nil {
			return nil, err
		}
		cfg := fingerprint.Config{Config: base, Hook: hook}
		for _, m := range mut {
			m(&cfg, env)
		}
		return fingerprint.NewTA(cfg)
	}
}

// newPayment builds the payment TA like the Gatekeeper: sealed store in
// the data directory with its rollback counter outside it, envelope keys
// from the record, replay marks persisted per BootID. Its device
// attestation key is created in the store at first boot.
func newPayment(env *taproc.Env) (rpc.TA, error) {
	return newPaymentWeakened(env, payment.ChannelRulesKept)
}

// newPaymentWeakened is newPayment without the TA-side channel rule w
// (payment.Config.Weakened; ChannelRulesKept keeps them all).
func newPaymentWeakened(env *taproc.Env, w payment.ChannelWeakening) (rpc.TA, error) {
	base, err := baseConfig(env)
	if err != nil {
		return nil, err
	}
	return payment.NewTA(payment.Config{Config: base, Anchors: bytes.Clone(env.Record.Anchors), Weakened: w})
}

// RunTA runs the TA process of role in device directory dir: the body of
// `fpemu ta <role> --dir dir` (taproc.Run with Factory(role)). It fails
// with an error wrapping taproc.ErrNotLaunched when the process was not
// started by the launcher.
func RunTA(ctx context.Context, role tee.Role, dir string, level zapcore.Level) error {
	return RunTADurability(ctx, role, dir, level, taproc.DurabilityProcess)
}

// RunTADurability is RunTA with the sealed store's durability
// (taproc.DurabilityProcess or DurabilityPower: `fpemu ta <role>
// --durability D`, docs/protocol.md §7.8).
func RunTADurability(ctx context.Context, role tee.Role, dir string, level zapcore.Level, durability string) error {
	f, err := Factory(role)
	if err != nil {
		return err
	}
	return taproc.Run(ctx, taproc.Options{Role: role, Dir: dir, Factory: f, LogLevel: level, Durability: durability})
}
