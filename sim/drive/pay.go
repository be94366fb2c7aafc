package drive

import (
	"context"
	"fmt"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/tee/rpc"
)

// Registration is a payment app's key registration with the payment TA:
// the certificates it uploads to its server, and the scene certificate
// they verify to as a chain.
type Registration struct {
	Device, App, Scene []byte
	SceneCert          proof.Cert
}

// RegisterScene is what a payment app does to get a scene key (the
// SOTER-style device → app → scene hierarchy, docs/protocol.md §8) over
// pay, a session on the payment TA: GET_DEVICE_CERT, CREATE_APP_KEY
// unless app (an app certificate already registered) is given,
// CREATE_SCENE_KEY of ref for group gid, then the chain verified offline
// (proof.VerifyChain). Errors name the command and wrap the TA's
// (payproto.ErrNoFingers when the TA has no finger list for gid).
func RegisterScene(ctx context.Context, pay rpc.Invoker, ref payproto.KeyRef, gid uint32, app []byte) (Registration, error) {
	reg := Registration{App: app}
	var err error
	if reg.Device, err = (payproto.GetDeviceCert{}).Execute(ctx, pay); err != nil {
		return reg, fmt.Errorf("GET_DEVICE_CERT: %w", err)
	}
	if reg.App == nil {
		if reg.App, err = (payproto.CreateAppKey{AppID: ref.AppID}).Execute(ctx, pay); err != nil {
			return reg, fmt.Errorf("CREATE_APP_KEY: %w", err)
		}
	}
	if reg.Scene, err = (payproto.CreateSceneKey{Ref: ref, GroupID: gid}).Execute(ctx, pay); err != nil {
		return reg, fmt.Errorf("CREATE_SCENE_KEY: %w", err)
	}
	if _, _, reg.SceneCert, err = proof.VerifyChain(reg.Device, reg.App, reg.Scene); err != nil {
		return reg, fmt.Errorf("certificate chain: %w", err)
	}
	return reg, nil
}
