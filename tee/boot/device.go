package boot

import (
	"crypto/rand"
	"fmt"
	"io"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
)

// Device is the launcher's view of one boot of an emulated device: the
// fused key, the boot ID and the boot clock origin. Only the launcher
// process holds a Device; TA processes get Records.
type Device struct {
	fused    FusedKey
	id       BootID
	originNs uint64
}

// Boot boots the device in directory dir (which must exist): it loads the
// fused key, creating it on first boot (LoadOrCreateFusedKey), draws a
// fresh BootID from crypto/rand and samples CLOCK_BOOTTIME as the boot
// clock origin.
func Boot(dir string) (*Device, error) {
	fused, _, err := LoadOrCreateFusedKey(dir)
	if err != nil {
		return nil, err
	}
	id, err := NewBootID()
	if err != nil {
		return nil, err
	}
	origin, err := BootTimeNs()
	if err != nil {
		return nil, fmt.Errorf("boot: read CLOCK_BOOTTIME: %w", err)
	}
	return &Device{fused: fused, id: id, originNs: origin}, nil
}

// NewDevice returns a Device from its parts (tests, tools).
func NewDevice(fused FusedKey, id BootID, originNs uint64) *Device {
	return &Device{fused: fused, id: id, originNs: originNs}
}

// NewBootID draws a random boot ID.
func NewBootID() (BootID, error) {
	var id BootID
	if _, err := io.ReadFull(rand.Reader, id[:]); err != nil {
		return BootID{}, fmt.Errorf("boot: draw boot ID: %w", err)
	}
	return id, nil
}

// ID returns the boot ID.
func (d *Device) ID() BootID { return d.id }

// ClockOriginNs returns the boot clock origin.
func (d *Device) ClockOriginNs() uint64 { return d.originNs }

// Clock returns the device boot clock, as the TAs will see it.
func (d *Device) Clock() *Clock { return NewClock(d.originNs) }

// String describes d without the fused key.
func (d *Device) String() string {
	return fmt.Sprintf("boot.Device{BootID: %s, ClockOriginNs: %d}", d.id, d.originNs)
}

// Provision returns the provisioning record of role for this boot.
func (d *Device) Provision(role tee.Role) (Record, error) {
	return Provision(d.fused, d.id, d.originNs, role)
}

// Provision builds the record of role: its UUID, its storage key, the
// pairwise keys of the manifest routes it is an endpoint of (and of no
// other route), the boot ID and the clock origin. An unknown role is
// ErrUnknownRole.
func Provision(fused FusedKey, id BootID, originNs uint64, role tee.Role) (Record, error) {
	u, err := tee.UUIDOf(role)
	if err != nil {
		return Record{}, fmt.Errorf("%w: %q", ErrUnknownRole, string(role))
	}
	rec := Record{
		Role:          role,
		UUID:          u,
		BootID:        id,
		ClockOriginNs: originNs,
		StorageKey:    DeriveStorageKey(fused, u),
		Keys:          make(envelope.Keyring),
	}
	for _, r := range routesOf(u) {
		rec.Keys[r] = DeriveEnvelopeKey(fused, id, r)
	}
	return rec, nil
}
