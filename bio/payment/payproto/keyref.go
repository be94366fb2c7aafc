package payproto

import (
	"encoding/binary"
	"fmt"

	"github.com/fpemu/fpemu/bio/payment/proof"
)

// KeyRef names a key of the hierarchy: an app key (Scene empty) or a scene
// key. Wire form (docs/protocol.md §8):
//
//	u16 len(app_id) ‖ app_id (1..128 bytes) ‖ u16 len(scene) ‖ scene (0..64 bytes)
type KeyRef struct {
	AppID string
	Scene string
}

// IsApp reports whether r names an app key.
func (r KeyRef) IsApp() bool { return r.Scene == "" }

// Check reports, as ErrBadRequest, an app id outside 1..proof.MaxAppIDLen
// bytes or a scene over proof.MaxSceneLen bytes.
func (r KeyRef) Check() error {
	if len(r.AppID) == 0 || len(r.AppID) > proof.MaxAppIDLen {
		return fmt.Errorf("%w: app id of %d bytes, want 1..%d", ErrBadRequest, len(r.AppID), proof.MaxAppIDLen)
	}
	if len(r.Scene) > proof.MaxSceneLen {
		return fmt.Errorf("%w: scene of %d bytes, max %d", ErrBadRequest, len(r.Scene), proof.MaxSceneLen)
	}
	return nil
}

// Marshal returns the wire form of r, or ErrBadRequest.
func (r KeyRef) Marshal() ([]byte, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 4+len(r.AppID)+len(r.Scene))
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.AppID)))
	b = append(b, r.AppID...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Scene)))
	return append(b, r.Scene...), nil
}

// ParseKeyRef decodes the wire form strictly (exact lengths, no trailing
// bytes). On error it returns the zero KeyRef and an error matching
// ErrBadRequest. The KeyRef's strings are copies: it may outlive b, as the
// payment TA's pending challenges keep it past the command whose borrowed
// memref b was (rpc.ParamBorrower, GPD_SPE_010 §4.9).
func ParseKeyRef(b []byte) (KeyRef, error) {
	bad := func(why string) (KeyRef, error) {
		return KeyRef{}, fmt.Errorf("%w: key reference: %s", ErrBadRequest, why)
	}
	if len(b) < 2 {
		return bad("truncated app id length")
	}
	a := int(binary.BigEndian.Uint16(b))
	if a == 0 || a > proof.MaxAppIDLen {
		return bad(fmt.Sprintf("app id length %d", a))
	}
	if len(b) < 2+a+2 {
		return bad("truncated")
	}
	s := int(binary.BigEndian.Uint16(b[2+a:]))
	if s > proof.MaxSceneLen {
		return bad(fmt.Sprintf("scene length %d", s))
	}
	if len(b) != 2+a+2+s {
		return bad(fmt.Sprintf("%d bytes, lengths say %d", len(b), 2+a+2+s))
	}
	return KeyRef{AppID: string(b[2 : 2+a]), Scene: string(b[4+a:])}, nil
}

// String names r for logs and errors: app "a" or scene "a"/"s".
func (r KeyRef) String() string {
	if r.IsApp() {
		return fmt.Sprintf("app %q", r.AppID)
	}
	return fmt.Sprintf("scene %q/%q", r.AppID, r.Scene)
}
