package tee

import "fmt"

// Role names a trusted application of an fpemu device.
type Role string

// The TAs of an fpemu device.
const (
	RoleKeymaster   Role = "keymaster"
	RoleGatekeeper  Role = "gatekeeper"
	RoleFingerprint Role = "fingerprint"
	RolePayment     Role = "payment"
)

// Fixed TA UUIDs. They are arbitrary but stable: a vendor's replacement TA
// must answer on the same UUID.
var (
	UUIDKeymaster   = MustParseUUID("784c5e57-59a1-4dde-85a0-538c9d06415a")
	UUIDGatekeeper  = MustParseUUID("b8064747-77ef-4833-936e-8d63a84cf7f8")
	UUIDFingerprint = MustParseUUID("c5bac092-9e17-4264-bb65-370855f95f6d")
	UUIDPayment     = MustParseUUID("c0815810-e475-4934-ae98-e18cd703fb13")
)

// Roles lists every TA role in boot order (Keymaster first: the others wait
// for its auth-token key).
var Roles = []Role{RoleKeymaster, RoleGatekeeper, RoleFingerprint, RolePayment}

// UUIDOf returns the UUID of a role.
func UUIDOf(r Role) (UUID, error) {
	switch r {
	case RoleKeymaster:
		return UUIDKeymaster, nil
	case RoleGatekeeper:
		return UUIDGatekeeper, nil
	case RoleFingerprint:
		return UUIDFingerprint, nil
	case RolePayment:
		return UUIDPayment, nil
	}
	return UUID{}, fmt.Errorf("tee: unknown TA role %q", string(r))
}

// RoleOf returns the role whose UUID is u.
func RoleOf(u UUID) (Role, bool) {
	for _, r := range Roles {
		if id, _ := UUIDOf(r); id == u {
			return r, true
		}
	}
	return "", false
}

// Route is a directed pair of TAs allowed to exchange sealed envelopes.
type Route struct {
	From, To UUID
}

func (r Route) String() string {
	f, _ := RoleOf(r.From)
	t, _ := RoleOf(r.To)
	return fmt.Sprintf("%s→%s", f, t)
}

// Routes is the device manifest (docs/architecture.md rule 2): the only sender →
// recipient pairs that get a pairwise envelope key at boot. Keymaster
// distributes the per-boot auth-token key to the TAs that mint or check
// HATs, and the fingerprint TA reports bio results and finger lists to the
// payment TA — the Qualcomm QSEE inter-app routes.
var Routes = []Route{
	{From: UUIDKeymaster, To: UUIDGatekeeper},
	{From: UUIDKeymaster, To: UUIDFingerprint},
	{From: UUIDKeymaster, To: UUIDPayment},
	{From: UUIDFingerprint, To: UUIDPayment},
}

// RouteAllowed reports whether the manifest lists from→to.
func RouteAllowed(from, to UUID) bool {
	for _, r := range Routes {
		if r.From == from && r.To == to {
			return true
		}
	}
	return false
}
