package chanwire

import "encoding/binary"

// TLV tags of the application message (seed 001 §4.2 leaves the tag values
// open; these are fpemu's).
const (
	TagDeviceID  uint8 = 0x01
	TagUserID    uint8 = 0x02
	TagCustom    uint8 = 0x03
	TagSignature uint8 = 0x04
)

// MaxCustom bounds the custom-information field, so that a whole
// application message fits one record's MaxPlaintext.
const MaxCustom = 8 * 1024

// AppMessage is an application message in seed 001's TLV shape: device
// id, user id and custom information, in that order (their concatenation
// is the "original text" the sender signs), then the sender's signature.
// Each TLV is tag(1) ‖ length(u16, big-endian) ‖ value.
//
//	0x01 device id    1..MaxDeviceID
//	0x02 user id      1..MaxDeviceID
//	0x03 custom info  0..MaxCustom
//	0x04 signature    MinSM2Sig..MaxSM2Sig, or absent (optee-rsa signs the record instead)
type AppMessage struct {
	DeviceID  []byte
	UserID    []byte
	Custom    []byte
	Signature []byte
}

var appFields = []struct {
	tag      uint8
	name     string
	min, max int
}{
	{TagDeviceID, "device_id", 1, MaxDeviceID},
	{TagUserID, "user_id", 1, MaxDeviceID},
	{TagCustom, "custom", 0, MaxCustom},
	{TagSignature, "signature", MinSM2Sig, MaxSM2Sig},
}

func (m *AppMessage) values() [][]byte {
	return [][]byte{m.DeviceID, m.UserID, m.Custom, m.Signature}
}

// Content returns the TLVs of device id, user id and custom information:
// the original text the sender signs (seed 001 §4.2).
func (m *AppMessage) Content() ([]byte, error) { return m.encode(3) }

// Marshal returns the canonical bytes: Content and, if Signature is not
// empty, its TLV.
func (m *AppMessage) Marshal() ([]byte, error) {
	if len(m.Signature) == 0 {
		return m.encode(3)
	}
	return m.encode(4)
}

func (m *AppMessage) encode(n int) ([]byte, error) {
	var out []byte
	for i, v := range m.values()[:n] {
		f := appFields[i]
		if len(v) < f.min || len(v) > f.max {
			return nil, ferr("AppMessage", f.name, ErrLength, "length %d not in [%d, %d]", len(v), f.min, f.max)
		}
		out = append(out, f.tag)
		out = binary.BigEndian.AppendUint16(out, uint16(len(v)))
		out = append(out, v...)
	}
	return out, nil
}

// ParseAppMessage decodes an application message: the three content TLVs
// in order, then at most the signature TLV. Unknown tags, repeated or
// out-of-order tags are ErrField.
func ParseAppMessage(b []byte) (AppMessage, error) {
	r := reader{msg: "AppMessage", b: b}
	var vals [4][]byte
	for i, f := range appFields {
		if i == 3 && len(r.b) == 0 {
			break
		}
		tag := r.u8(f.name)
		if r.err == nil && uint8(tag) != f.tag {
			r.fail(f.name, ErrField, "tag 0x%02x, want 0x%02x", tag, f.tag)
		}
		vals[i] = r.vec(f.name, 2, f.min, f.max)
	}
	if err := r.done(); err != nil {
		return AppMessage{}, err
	}
	m := AppMessage{DeviceID: vals[0], UserID: vals[1], Custom: vals[2], Signature: vals[3]}
	if m.Custom == nil {
		m.Custom = []byte{}
	}
	return m, nil
}
