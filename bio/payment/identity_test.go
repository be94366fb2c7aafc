package payment

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tee/tatest"
)

// twoClients hosts ta and returns two sessions with different client
// identities: TEEC_LOGIN_USER and TEEC_LOGIN_GROUP as the process's egid
// (one process, two GP identities; sim's tests use two real uids).
func twoClients(t *testing.T, ta *TA) (owner, other *rpc.Session) {
	t.Helper()
	path := tatest.HostUnix(t, tee.UUIDPayment, ta)
	return tatest.Open(t, path, tee.UUIDPayment, rpc.AsUser()),
		tatest.Open(t, path, tee.UUIDPayment, rpc.AsGroup(uint32(os.Getegid())))
}

// TestCrossIdentityRefused: keys belong to the identity that created the
// app key. Every action of another identity on them — use, certify under,
// replace, delete, read, begin a payment, sign, spend the owner's
// challenge — is TEEC_ERROR_ACCESS_DENIED (ErrNotOwner) or, for the
// challenge, ErrNotAuthorized, and changes nothing: the owner's keys,
// challenge and auth result still work afterwards.
func TestCrossIdentityRefused(t *testing.T) {
	d := newDevice(t)
	a, b := twoClients(t, d.open(t))
	registered(t, d, a)
	ctx := testCtx(t)
	appRef := payproto.KeyRef{AppID: testApp}
	appCert, err := payproto.GetCert{Ref: appRef}.Execute(ctx, a)
	require.NoError(t, err)
	sceneCert, err := payproto.GetCert{Ref: sceneRef}.Execute(ctx, a)
	require.NoError(t, err)
	// The owner's payment in flight: challenge issued, finger matched.
	c := begin(t, a, sceneRef)
	require.True(t, deliver(t, b, d.match(t, 0, 0xA1, 1, c)).Held, "DELIVER needs no ownership")

	cases := []struct {
		name string
		run  func() error
		want error
	}{
		{"replace the app key", func() error { _, err := payproto.CreateAppKey{AppID: testApp}.Execute(ctx, b); return err }, payproto.ErrNotOwner},
		{"certify a scene under it", func() error {
			_, err := payproto.CreateSceneKey{Ref: payproto.KeyRef{AppID: testApp, Scene: "mine"}}.Execute(ctx, b)
			return err
		}, payproto.ErrNotOwner},
		{"replace the scene key", func() error { _, err := payproto.CreateSceneKey{Ref: sceneRef}.Execute(ctx, b); return err }, payproto.ErrNotOwner},
		{"read the app certificate", func() error { _, err := payproto.GetCert{Ref: appRef}.Execute(ctx, b); return err }, payproto.ErrNotOwner},
		{"read the scene certificate", func() error { _, err := payproto.GetCert{Ref: sceneRef}.Execute(ctx, b); return err }, payproto.ErrNotOwner},
		{"begin a payment with it", func() error { _, err := payproto.BeginPayment{Ref: sceneRef}.Execute(ctx, b); return err }, payproto.ErrNotOwner},
		{"sign with it (the owner's challenge)", func() error {
			_, err := payproto.SignPayment{Ref: sceneRef, Challenge: c, Payload: payload}.Execute(ctx, b)
			return err
		}, payproto.ErrNotOwner},
		{"delete the scene key", func() error { return payproto.DeleteKey{Ref: sceneRef}.Execute(ctx, b) }, payproto.ErrNotOwner},
		{"delete the app key", func() error { return payproto.DeleteKey{Ref: appRef}.Execute(ctx, b) }, payproto.ErrNotOwner},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			require.ErrorIs(t, err, tc.want)
			require.ErrorIs(t, err, tee.ErrAccessDenied)
		})
	}

	// Spending the owner's challenge and auth result with a key of one's
	// own: the challenge is bound to (identity, key).
	_, err = payproto.CreateAppKey{AppID: "com.other.app"}.Execute(ctx, b)
	require.NoError(t, err)
	otherScene := payproto.KeyRef{AppID: "com.other.app", Scene: "pay"}
	_, err = payproto.CreateSceneKey{Ref: otherScene}.Execute(ctx, b)
	require.NoError(t, err)
	_, err = payproto.SignPayment{Ref: otherScene, Challenge: c, Payload: payload}.Execute(ctx, b)
	require.ErrorIs(t, err, payproto.ErrNotAuthorized)
	// Nor can the owner sign with the other identity's key.
	_, err = payproto.SignPayment{Ref: otherScene, Challenge: c, Payload: payload}.Execute(ctx, a)
	require.ErrorIs(t, err, payproto.ErrNotOwner)

	// Nothing changed: same certificates, and the owner's challenge and
	// auth result still sign.
	got, err := payproto.GetCert{Ref: appRef}.Execute(ctx, a)
	require.NoError(t, err)
	assert.Equal(t, appCert, got)
	got, err = payproto.GetCert{Ref: sceneRef}.Execute(ctx, a)
	require.NoError(t, err)
	assert.Equal(t, sceneCert, got)
	_, err = sign(t, a, c)
	require.NoError(t, err, "the owner's payment survived every refusal")
}

// TestPublicLoginRefused: a TEEC_LOGIN_PUBLIC session may DELIVER and
// read the device certificate (the HAL's relay), but every app command is
// refused with ErrNeedsIdentity (TEEC_ERROR_ACCESS_DENIED) before it
// touches anything.
func TestPublicLoginRefused(t *testing.T) {
	d := newDevice(t)
	ta := d.open(t)
	path := tatest.HostUnix(t, tee.UUIDPayment, ta)
	pub := tatest.Open(t, path, tee.UUIDPayment)
	user := tatest.Open(t, path, tee.UUIDPayment, rpc.AsUser())
	ctx := testCtx(t)

	deliver(t, pub, d.fingerList(t, 0, 0xA1, 1, 2))
	_, err := payproto.GetDeviceCert{}.Execute(ctx, pub)
	require.NoError(t, err)
	registered(t, d, user)

	cases := map[string]func() error{
		"CREATE_APP_KEY":   func() error { _, err := payproto.CreateAppKey{AppID: "com.public"}.Execute(ctx, pub); return err },
		"CREATE_SCENE_KEY": func() error { _, err := payproto.CreateSceneKey{Ref: sceneRef}.Execute(ctx, pub); return err },
		"GET_CERT":         func() error { _, err := payproto.GetCert{Ref: sceneRef}.Execute(ctx, pub); return err },
		"BEGIN_PAYMENT":    func() error { _, err := payproto.BeginPayment{Ref: sceneRef}.Execute(ctx, pub); return err },
		"SIGN_PAYMENT": func() error {
			_, err := payproto.SignPayment{Ref: sceneRef, Challenge: 1, Payload: payload}.Execute(ctx, pub)
			return err
		},
		"DELETE_KEY": func() error { return payproto.DeleteKey{Ref: payproto.KeyRef{AppID: testApp}}.Execute(ctx, pub) },
	}
	for name, run := range cases {
		t.Run(name, func(t *testing.T) {
			err := run()
			require.ErrorIs(t, err, payproto.ErrNeedsIdentity)
			require.ErrorIs(t, err, tee.ErrAccessDenied)
		})
	}
	_, err = payproto.GetCert{Ref: sceneRef}.Execute(ctx, user)
	require.NoError(t, err, "the user's keys are intact")
}

// TestKeyQuota: an identity holds at most MaxKeysPerIdentity keys (app and
// scene together); the next creation fails with ErrQuota
// (TEEC_ERROR_OUT_OF_MEMORY) and stores nothing. Replacing a key does not
// count twice, deleting frees room, and another identity has its own
// quota.
func TestKeyQuota(t *testing.T) {
	d := newDevice(t)
	a, b := twoClients(t, d.open(t))
	ctx := testCtx(t)
	deliver(t, a, d.fingerList(t, 0, 0xA1, 1))
	_, err := payproto.CreateAppKey{AppID: testApp}.Execute(ctx, a)
	require.NoError(t, err)
	for i := 1; i < payproto.MaxKeysPerIdentity; i++ {
		_, err := payproto.CreateSceneKey{Ref: payproto.KeyRef{AppID: testApp, Scene: fmt.Sprint("s", i)}}.Execute(ctx, a)
		require.NoError(t, err, "key %d", i+1)
	}
	over := payproto.KeyRef{AppID: testApp, Scene: "one-too-many"}
	_, err = payproto.CreateSceneKey{Ref: over}.Execute(ctx, a)
	require.ErrorIs(t, err, payproto.ErrQuota)
	require.ErrorIs(t, err, &tee.Error{Code: tee.ResultOutOfMemory})
	_, err = payproto.GetCert{Ref: over}.Execute(ctx, a)
	require.ErrorIs(t, err, payproto.ErrNoKey, "nothing stored")
	_, err = payproto.CreateAppKey{AppID: "com.second"}.Execute(ctx, a)
	require.ErrorIs(t, err, payproto.ErrQuota, "a second app key counts too")

	_, err = payproto.CreateSceneKey{Ref: payproto.KeyRef{AppID: testApp, Scene: "s1"}}.Execute(ctx, a)
	require.NoError(t, err, "replacing an existing key needs no room")
	_, err = payproto.CreateAppKey{AppID: "com.other"}.Execute(ctx, b)
	require.NoError(t, err, "the other identity has its own quota")

	require.NoError(t, payproto.DeleteKey{Ref: payproto.KeyRef{AppID: testApp, Scene: "s1"}}.Execute(ctx, a))
	_, err = payproto.CreateSceneKey{Ref: over}.Execute(ctx, a)
	require.NoError(t, err, "deleting frees room")
}

// TestChallengeBounds: outstanding payment challenges are bounded per
// identity (the oldest of that identity is forgotten) and in total (then
// ErrChallengesBusy, TEEC_ERROR_BUSY, without evicting anyone), and
// expire.
func TestChallengeBounds(t *testing.T) {
	d := newDevice(t)
	ta := d.open(t)
	ctx := context.Background()
	_, err := ta.Deliver(ctx, d.fingerList(t, 0, 0xA1, 1))
	require.NoError(t, err)
	newOwner := func(i int) (tee.UUID, payproto.KeyRef) {
		o, _ := rpc.ClientUUID(tee.LoginUser, uint32(10000+i), 0)
		ref := payproto.KeyRef{AppID: fmt.Sprint("app", i), Scene: "pay"}
		_, err := ta.CreateAppKey(ctx, o, ref.AppID)
		require.NoError(t, err)
		_, err = ta.CreateSceneKey(ctx, o, ref, 0)
		require.NoError(t, err)
		return o, ref
	}

	o0, r0 := newOwner(0)
	var first []uint64
	for range payproto.MaxChallengesPerIdentity + 1 {
		c, err := ta.BeginPayment(ctx, o0, r0)
		require.NoError(t, err)
		first = append(first, c)
		d.Clock.Advance(time.Millisecond)
	}
	_, err = ta.Deliver(ctx, d.match(t, 0, 0xA1, 1, first[0]))
	require.NoError(t, err)
	_, err = ta.SignPayment(ctx, o0, r0, first[0], payload)
	require.ErrorIs(t, err, payproto.ErrNotAuthorized, "the identity's oldest challenge was forgotten")

	// Fill the table with other identities' challenges.
	for i := 1; len(ta.pending) < payproto.MaxPendingChallenges; i++ {
		o, r := newOwner(i)
		for range payproto.MaxChallengesPerIdentity {
			if len(ta.pending) == payproto.MaxPendingChallenges {
				break
			}
			_, err := ta.BeginPayment(ctx, o, r)
			require.NoError(t, err)
		}
	}
	late, lateRef := newOwner(999)
	_, err = ta.BeginPayment(ctx, late, lateRef)
	require.ErrorIs(t, err, payproto.ErrChallengesBusy)
	require.ErrorIs(t, err, tee.ErrBusy)
	last := first[len(first)-1]
	_, err = ta.Deliver(ctx, d.match(t, 0, 0xA1, 1, last))
	require.NoError(t, err)
	_, err = ta.SignPayment(ctx, o0, r0, last, payload)
	require.NoError(t, err, "a full table evicted nobody")

	d.Clock.Advance(DefaultAuthResultTTL + time.Millisecond)
	_, err = ta.BeginPayment(ctx, late, lateRef)
	require.NoError(t, err, "expired challenges make room")
	assert.Len(t, ta.pending, 1)
}

// TestUnownedAppKeyClaimed: an app key stored before keys had owners
// (record layout 1, nil owner) serves no identity, and the first identity
// to create that app id's key again claims it.
func TestUnownedAppKeyClaimed(t *testing.T) {
	d := newDevice(t)
	ta := d.open(t)
	ctx := context.Background()
	_, err := ta.CreateAppKey(ctx, ownerA, testApp)
	require.NoError(t, err)
	// Make it a legacy record: rewrite its row with the nil owner.
	require.NoError(t, ta.Tx(ctx, func(tx *store.Tx) error {
		rec, ok, err := loadKey(tx, proof.KindApp, payproto.KeyRef{AppID: testApp})
		require.True(t, ok)
		if err != nil {
			return err
		}
		rec.owner = tee.UUID{}
		return putKey(tx, payproto.KeyRef{AppID: testApp}, &rec)
	}))
	_, err = ta.Cert(ctx, ownerA, payproto.KeyRef{AppID: testApp})
	require.ErrorIs(t, err, payproto.ErrNotOwner, "an unowned key serves nobody")
	_, err = ta.CreateAppKey(ctx, ownerB, testApp)
	require.NoError(t, err, "re-creating claims it")
	_, err = ta.Cert(ctx, ownerB, payproto.KeyRef{AppID: testApp})
	require.NoError(t, err)
	_, err = ta.CreateAppKey(ctx, ownerA, testApp)
	require.ErrorIs(t, err, payproto.ErrNotOwner)
}
