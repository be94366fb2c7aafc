package proof

import (
	"encoding/binary"
	"fmt"

	"github.com/fpemu/fpemu/internal/cursor"
)

// Cert is the body of a key certificate (version 1). Layout, big-endian:
//
//	0    1   version 0x01
//	1    1   kind: 1 device, 2 app, 3 scene
//	2    16  device_id
//	18   8   serial (the TA's counter when the key was created)
//	26   4   group_id           scene only, else 0
//	30   8   authenticator_id   scene only, else 0
//	38   32  finger_binding     scene only (FingerBinding), else zeros
//	70   65  public_key         uncompressed SM2 point
//	135  2+a app_id             u16 length + bytes: device 0, else 1..128
//	     2+s scene              u16 length + bytes: scene 1..64, else 0
type Cert struct {
	Kind            Kind
	DeviceID        DeviceID
	Serial          uint64
	GroupID         uint32
	AuthenticatorID uint64
	FingerBinding   [BindingSize]byte
	PublicKey       PublicKey
	AppID           string
	Scene           string
}

func (c *Cert) check() error {
	switch c.Kind {
	case KindDevice, KindApp, KindScene:
	default:
		return fmt.Errorf("%w: certificate of %s", ErrMalformed, c.Kind)
	}
	if c.PublicKey[0] != 0x04 {
		return fmt.Errorf("%w: public key is not an uncompressed point", ErrMalformed)
	}
	if c.Kind != KindScene && (c.GroupID != 0 || c.AuthenticatorID != 0 || c.FingerBinding != [BindingSize]byte{}) {
		return fmt.Errorf("%w: %s certificate with a finger binding", ErrMalformed, c.Kind)
	}
	return checkNames(c.Kind, c.AppID, c.Scene)
}

// Marshal returns the canonical body bytes of c, or ErrMalformed.
func (c Cert) Marshal() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, certFixed+4+len(c.AppID)+len(c.Scene))
	b = append(b, Version, byte(c.Kind))
	b = append(b, c.DeviceID[:]...)
	b = binary.BigEndian.AppendUint64(b, c.Serial)
	b = binary.BigEndian.AppendUint32(b, c.GroupID)
	b = binary.BigEndian.AppendUint64(b, c.AuthenticatorID)
	b = append(b, c.FingerBinding[:]...)
	b = append(b, c.PublicKey[:]...)
	b = appendName(b, c.AppID)
	return appendName(b, c.Scene), nil
}

// ParseCert decodes a certificate body strictly (exact lengths, no
// trailing bytes, fields a kind does not use must be zero or empty). On
// error it returns the zero Cert and an error wrapping ErrMalformed. It
// does not check that the public key is on the curve; Verify* do.
func ParseCert(b []byte) (Cert, error) {
	if len(b) > MaxCertSize {
		return Cert{}, fmt.Errorf("%w: certificate of %d bytes, max %d", ErrMalformed, len(b), MaxCertSize)
	}
	r := cursor.New(b)
	if v := r.U8(); v != Version && !r.Bad() {
		return Cert{}, fmt.Errorf("%w: certificate version %d", ErrMalformed, v)
	}
	var c Cert
	c.Kind = Kind(r.U8())
	copy(c.DeviceID[:], r.Take(DeviceIDSize))
	c.Serial = r.U64()
	c.GroupID = r.U32()
	c.AuthenticatorID = r.U64()
	copy(c.FingerBinding[:], r.Take(BindingSize))
	copy(c.PublicKey[:], r.Take(PublicKeySize))
	c.AppID = string(r.Field16(0, MaxAppIDLen))
	c.Scene = string(r.Field16(0, MaxSceneLen))
	if !r.Done() {
		return Cert{}, fmt.Errorf("%w: certificate of %d bytes: truncated, over-long field or trailing bytes", ErrMalformed, len(b))
	}
	if err := c.check(); err != nil {
		return Cert{}, err
	}
	return c, nil
}
