package payment

import (
	"context"
	"fmt"
	"io"

	"github.com/emmansun/gmsm/sm2"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tee/tacore"
)

// newKey draws an SM2 key from rnd and certifies it with issuer: it
// returns the record to store (scalar and signed certificate).
func newKey(rnd io.Reader, c proof.Cert, issuer *keyRecord) (keyRecord, error) {
	priv, err := sm2.GenerateKey(rnd)
	if err != nil {
		return keyRecord{}, fmt.Errorf("payment: generate key: %w", err)
	}
	c.PublicKey = proof.PublicKeyOf(&priv.PublicKey)
	body, err := c.Marshal()
	if err != nil {
		return keyRecord{}, err
	}
	ik, err := privateKey(issuer)
	if err != nil {
		return keyRecord{}, err
	}
	signed, err := proof.Sign(ik, body)
	if err != nil {
		return keyRecord{}, err
	}
	rec := keyRecord{kind: c.Kind, cert: signed}
	priv.D.FillBytes(rec.scalar[:])
	return rec, nil
}

// stamp records the boot and boot time of a key's creation.
func (t *TA) stamp(r *keyRecord) {
	r.bootID = t.BootID
	r.createdMs = t.Clock.NowMs()
}

// checkOwner refuses a key owned by another client identity
// (ErrNotOwner). The nil owner of a record written before owners existed
// matches no caller: only CreateAppKey may claim such an app id.
func checkOwner(r *keyRecord, owner tee.UUID, ref payproto.KeyRef) error {
	if r.owner != owner {
		return fmt.Errorf("%w: %s", payproto.ErrNotOwner, ref)
	}
	return nil
}

// checkCaller refuses the nil identity (TEEC_LOGIN_PUBLIC): keys must
// belong to someone.
func checkCaller(owner tee.UUID) error {
	if owner.IsZero() {
		return payproto.ErrNeedsIdentity
	}
	return nil
}

// underQuota fails with ErrQuota when owner already holds
// MaxKeysPerIdentity keys.
func underQuota(tx *store.Tx, owner tee.UUID) error {
	n, err := countOwned(tx, owner)
	if err != nil {
		return err
	}
	if n >= payproto.MaxKeysPerIdentity {
		return fmt.Errorf("%w: %d keys", payproto.ErrQuota, n)
	}
	return nil
}

// CreateAppKey creates the app key of app (SOTER's ASK) for client
// identity owner, certified by the device attestation key, and returns
// its signed certificate. The first identity to create an app id's key
// owns it: another identity gets ErrNotOwner and nothing changes. The
// owner's existing app key is replaced, and its scene keys are deleted
// (they chain to the old key); so is an unowned one (written before keys
// had owners), which owner then claims. ErrQuota when owner already holds
// MaxKeysPerIdentity keys after that deletion.
func (t *TA) CreateAppKey(ctx context.Context, owner tee.UUID, app string) ([]byte, error) {
	ref := payproto.KeyRef{AppID: app}
	if err := ref.Check(); err != nil {
		return nil, err
	}
	if err := checkCaller(owner); err != nil {
		return nil, err
	}
	var cert []byte
	var replaced bool
	err := t.Tx(ctx, func(tx *store.Tx) error {
		dev, ok, err := loadKey(tx, proof.KindDevice, deviceRef)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: device key missing", ErrCorruptRecord)
		}
		defer clear(dev.scalar[:])
		old, ok, err := loadKey(tx, proof.KindApp, ref)
		if err != nil {
			return err
		}
		clear(old.scalar[:])
		if ok && !old.owner.IsZero() {
			if err := checkOwner(&old, owner, ref); err != nil {
				return err
			}
		}
		if replaced, err = deleteApp(tx, app); err != nil {
			return err
		}
		if err := underQuota(tx, owner); err != nil {
			return err
		}
		serial, err := nextCounter(tx)
		if err != nil {
			return err
		}
		rec, err := newKey(t.Rand, proof.Cert{Kind: proof.KindApp, DeviceID: t.devID, Serial: serial, AppID: app}, &dev)
		if err != nil {
			return err
		}
		defer clear(rec.scalar[:])
		rec.owner = owner
		t.stamp(&rec)
		cert = rec.cert
		return putKey(tx, ref, &rec)
	})
	if err != nil {
		return nil, err
	}
	t.Log.Info("app key created", zap.String("app_id", app), zap.Bool("replaced", replaced))
	return cert, nil
}

// CreateSceneKey creates the payment key of ref (SOTER's AuthKey) for
// fingerprint group gid, certified by the app key of ref.AppID and bound
// to the group's current finger list, and returns its signed certificate.
// It needs the app key (ErrNoKey), owned by owner (ErrNotOwner), and a
// non-empty finger list for gid (ErrNoFingers). An existing key of ref is
// replaced; a new one counts against owner's quota (ErrQuota).
func (t *TA) CreateSceneKey(ctx context.Context, owner tee.UUID, ref payproto.KeyRef, gid uint32) ([]byte, error) {
	if err := ref.Check(); err != nil {
		return nil, err
	}
	if ref.IsApp() {
		return nil, fmt.Errorf("%w: scene key without a scene", payproto.ErrBadRequest)
	}
	if err := checkCaller(owner); err != nil {
		return nil, err
	}
	var cert []byte
	var fingers int
	err := t.Tx(ctx, func(tx *store.Tx) error {
		app, ok, err := loadKey(tx, proof.KindApp, payproto.KeyRef{AppID: ref.AppID})
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: no app key for %q", payproto.ErrNoKey, ref.AppID)
		}
		defer clear(app.scalar[:])
		if err := checkOwner(&app, owner, payproto.KeyRef{AppID: ref.AppID}); err != nil {
			return err
		}
		old, exists, err := loadKey(tx, proof.KindScene, ref)
		if err != nil {
			return err
		}
		clear(old.scalar[:])
		if !exists {
			if err := underQuota(tx, owner); err != nil {
				return err
			}
		}
		l, ok, err := loadFingerList(tx, gid)
		if err != nil {
			return err
		}
		if !ok || len(l.FingerIDs) == 0 {
			return fmt.Errorf("%w: group %d", payproto.ErrNoFingers, gid)
		}
		serial, err := nextCounter(tx)
		if err != nil {
			return err
		}
		rec, err := newKey(t.Rand, proof.Cert{
			Kind: proof.KindScene, DeviceID: t.devID, Serial: serial,
			GroupID: gid, AuthenticatorID: l.AuthenticatorID,
			FingerBinding: proof.FingerBinding(gid, l.AuthenticatorID, l.FingerIDs),
			AppID:         ref.AppID, Scene: ref.Scene,
		}, &app)
		if err != nil {
			return err
		}
		defer clear(rec.scalar[:])
		rec.fingers = l.FingerIDs
		rec.owner = owner
		t.stamp(&rec)
		cert, fingers = rec.cert, len(l.FingerIDs)
		return putKey(tx, ref, &rec)
	})
	if err != nil {
		return nil, err
	}
	t.Log.Info("scene key created", zap.String("app_id", ref.AppID), zap.String("scene", ref.Scene),
		zap.Uint32("gid", gid), zap.Int("fingers", fingers))
	return cert, nil
}

// Cert returns the signed certificate of the app key (ref.Scene empty) or
// scene key of ref; ErrNoKey if there is none, ErrNotOwner if it belongs
// to another identity than owner. An invalidated scene key's certificate
// is still returned; signing with it fails.
func (t *TA) Cert(ctx context.Context, owner tee.UUID, ref payproto.KeyRef) ([]byte, error) {
	if err := ref.Check(); err != nil {
		return nil, err
	}
	if err := checkCaller(owner); err != nil {
		return nil, err
	}
	kind := proof.KindScene
	if ref.IsApp() {
		kind = proof.KindApp
	}
	var cert []byte
	err := t.Store.View(ctx, func(tx *store.Tx) error {
		rec, ok, err := loadKey(tx, kind, ref)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %s", payproto.ErrNoKey, ref)
		}
		clear(rec.scalar[:])
		if err := checkOwner(&rec, owner, ref); err != nil {
			return err
		}
		cert = rec.cert
		return nil
	})
	return cert, err
}

// DeleteKey deletes the scene key of ref, or, with ref.Scene empty, the
// app key and all its scene keys. ErrNoKey if there was none, ErrNotOwner
// (nothing deleted) if it belongs to another identity than owner.
func (t *TA) DeleteKey(ctx context.Context, owner tee.UUID, ref payproto.KeyRef) error {
	if err := ref.Check(); err != nil {
		return err
	}
	if err := checkCaller(owner); err != nil {
		return err
	}
	kind := proof.KindScene
	if ref.IsApp() {
		kind = proof.KindApp
	}
	var existed bool
	err := t.Tx(ctx, func(tx *store.Tx) error {
		rec, ok, err := loadKey(tx, kind, ref)
		if err != nil {
			return err
		}
		clear(rec.scalar[:])
		if !ok {
			return tacore.ErrNoWrite
		}
		if err := checkOwner(&rec, owner, ref); err != nil {
			return err
		}
		if ref.IsApp() {
			existed, err = deleteApp(tx, ref.AppID)
		} else {
			existed, err = deleteScene(tx, ref)
		}
		if err == nil && !existed {
			err = tacore.ErrNoWrite
		}
		return err
	})
	if err != nil {
		return err
	}
	if !existed {
		return fmt.Errorf("%w: %s", payproto.ErrNoKey, ref)
	}
	t.Log.Info("key deleted", zap.String("app_id", ref.AppID), zap.String("scene", ref.Scene))
	return nil
}
