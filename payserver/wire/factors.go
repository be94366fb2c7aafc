package wire

import (
	"encoding/binary"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/policy"
)

// The n-factor messages (docs/protocol.md §16.4). They are new types, not
// changes to the version-1 ones: a device that never sends them pays as
// before, and a server without a policy answers them as one whose policy
// asks for a fingerprint only.

// OTP code and shield reference bounds.
const (
	MinOTPDigits    = 6  // GM/T 0021's minimum
	MaxOTPDigits    = 8  // RFC 4226's
	MaxShieldRefLen = 64 // a shield pre-submit's id
	MinOTPSeedLen   = 16 // GM/T 0021's minimum seed (128 bits)
	MaxOTPSeedLen   = 64
	MaxAlgorithmLen = 32
)

// --- PayIntent2 -----------------------------------------------------------

// PayIntent2 is a PayIntent with the factors the statement cannot carry
// itself: the one-time code the user typed and the id of a
// shield-confirmed pre-submit (docs/protocol.md §15, §16.4). The
// password factor rides inside the statement (proof.FlagPassword); the
// fingerprint is the statement. Its payment is answered by a
// SignedFeedback.
//
//	hdr ‖ s8 request id (1..64) ‖ s8 order id ‖ u64 challenge ‖
//	s8 OTP code (empty, or 6..8 ASCII digits) ‖ s8 shield ref (0..64)
type PayIntent2 struct {
	PayIntent
	OTPCode   string
	ShieldRef []byte
}

func (m PayIntent2) check() error {
	if err := m.PayIntent.check(); err != nil {
		return err
	}
	if m.OTPCode != "" {
		if len(m.OTPCode) < MinOTPDigits || len(m.OTPCode) > MaxOTPDigits {
			return malformed("one-time code of %d digits", len(m.OTPCode))
		}
		for _, c := range []byte(m.OTPCode) {
			if c < '0' || c > '9' {
				return malformed("one-time code is not decimal digits")
			}
		}
	}
	if len(m.ShieldRef) > MaxShieldRefLen {
		return malformed("shield ref of %d bytes", len(m.ShieldRef))
	}
	return nil
}

// Marshal returns the canonical bytes of m.
func (m PayIntent2) Marshal() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	b := put8(header(TypePayIntent2), m.RequestID)
	b = put8(b, []byte(m.OrderID))
	b = binary.BigEndian.AppendUint64(b, m.Challenge)
	b = put8(b, []byte(m.OTPCode))
	return put8(b, m.ShieldRef), nil
}

// ParsePayIntent2 decodes a PayIntent2 strictly.
func ParsePayIntent2(b []byte) (PayIntent2, error) {
	var r reader
	r.open(b, TypePayIntent2)
	var m PayIntent2
	m.RequestID = r.bytes8(1, MaxRequestIDLen)
	m.OrderID = string(r.bytes8(OrderIDLen, OrderIDLen))
	m.Challenge = r.U64()
	m.OTPCode = string(r.bytes8(0, MaxOTPDigits))
	m.ShieldRef = r.bytes8(0, MaxShieldRefLen)
	if !r.Done() {
		return PayIntent2{}, malformed("pay intent 2 of %d bytes", len(b))
	}
	if len(m.ShieldRef) == 0 {
		m.ShieldRef = nil
	}
	if err := m.check(); err != nil {
		return PayIntent2{}, err
	}
	return m, nil
}

// --- OTPEnroll / OTPSeed --------------------------------------------------

// OTPEnroll asks the server for a one-time-code seed for AppID on this
// device (the channel peer), which must have a registered scene key of
// that app: hdr ‖ s8 app id (1..128) ‖ s8 scene (1..64). A new seed
// replaces the old one; codes of steps already accepted stay spent.
type OTPEnroll struct {
	AppID, Scene string
}

func (m OTPEnroll) check() error {
	if len(m.AppID) == 0 || len(m.AppID) > proof.MaxAppIDLen || len(m.Scene) == 0 || len(m.Scene) > proof.MaxSceneLen {
		return malformed("otp enroll for app of %d and scene of %d bytes", len(m.AppID), len(m.Scene))
	}
	return nil
}

// Marshal returns the canonical bytes of m.
func (m OTPEnroll) Marshal() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	return put8(put8(header(TypeOTPEnroll), []byte(m.AppID)), []byte(m.Scene)), nil
}

// ParseOTPEnroll decodes an OTPEnroll strictly.
func ParseOTPEnroll(b []byte) (OTPEnroll, error) {
	var r reader
	r.open(b, TypeOTPEnroll)
	m := OTPEnroll{AppID: string(r.bytes8(1, proof.MaxAppIDLen)), Scene: string(r.bytes8(1, proof.MaxSceneLen))}
	if !r.Done() {
		return OTPEnroll{}, malformed("otp enroll of %d bytes", len(b))
	}
	return m, m.check()
}

// OTPSeed answers an OTPEnroll: the seed and its parameters
// (payserver/otp.Params), what an authenticator enrols.
//
//	hdr ‖ s8 algorithm (1..32, printable ASCII) ‖ u8 digits (6..8) ‖
//	u8 period s (1..60) ‖ u64 epoch (T0, Unix s) ‖ s8 seed (16..64)
type OTPSeed struct {
	Algorithm     string
	Digits        int
	PeriodSeconds int
	Epoch         int64
	Seed          []byte
}

func (m OTPSeed) check() error {
	switch {
	case len(m.Algorithm) == 0 || len(m.Algorithm) > MaxAlgorithmLen:
		return malformed("algorithm of %d bytes", len(m.Algorithm))
	case m.Digits < MinOTPDigits || m.Digits > MaxOTPDigits:
		return malformed("%d digits", m.Digits)
	case m.PeriodSeconds < 1 || m.PeriodSeconds > 60:
		return malformed("period %d s", m.PeriodSeconds)
	case m.Epoch < 0:
		return malformed("epoch %d", m.Epoch)
	case len(m.Seed) < MinOTPSeedLen || len(m.Seed) > MaxOTPSeedLen:
		return malformed("seed of %d bytes", len(m.Seed))
	}
	for _, c := range []byte(m.Algorithm) {
		if c <= 0x20 || c >= 0x7f {
			return malformed("algorithm is not printable ASCII")
		}
	}
	return nil
}

// Marshal returns the canonical bytes of m.
func (m OTPSeed) Marshal() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	b := put8(header(TypeOTPSeed), []byte(m.Algorithm))
	b = append(b, byte(m.Digits), byte(m.PeriodSeconds))
	b = binary.BigEndian.AppendUint64(b, uint64(m.Epoch))
	return put8(b, m.Seed), nil
}

// ParseOTPSeed decodes an OTPSeed strictly.
func ParseOTPSeed(b []byte) (OTPSeed, error) {
	var r reader
	r.open(b, TypeOTPSeed)
	m := OTPSeed{Algorithm: string(r.bytes8(1, MaxAlgorithmLen)), Digits: int(r.U8()), PeriodSeconds: int(r.U8()),
		Epoch: int64(r.U64()), Seed: r.bytes8(MinOTPSeedLen, MaxOTPSeedLen)}
	if !r.Done() {
		return OTPSeed{}, malformed("otp seed of %d bytes", len(b))
	}
	if err := m.check(); err != nil {
		return OTPSeed{}, err
	}
	return m, nil
}

// --- SignedFeedback -------------------------------------------------------

// Decision is what the server decided for a payment and what it found:
// the customer tier, the factors its policy requires and the factors the
// payment satisfied (docs/protocol.md §16.4). A refusal before the
// decision (an unknown order, a statement that does not verify) has the
// zero Decision.
type Decision struct {
	Tier      string
	Required  policy.Set
	Satisfied policy.Set
}

// Missing is Required without Satisfied.
func (d Decision) Missing() policy.Set { return d.Required &^ d.Satisfied }

// SignedFeedback answers the statement after a PayIntent2: the Feedback,
// the Decision, and the server's SM2 signature (SM3, default
// identifier, DER — the key that signs order summaries) over
// SignedFeedbackLabel ‖ the body, so the receipt, the decision and the
// factors are the server's word, kept by the app beyond the channel.
//
//	hdr ‖ s16 feedback (a canonical Feedback message) ‖ s8 tier (0..32) ‖
//	u8 required ‖ u8 satisfied ‖ s8 signature (8..72)
//
// body = s16 feedback ‖ s8 tier ‖ u8 required ‖ u8 satisfied.
type SignedFeedback struct {
	Feedback  Feedback
	Decision  Decision
	Signature []byte
}

// SignedFeedbackLabel separates what the server signs here from an
// order summary.
const SignedFeedbackLabel = "fpemu signed feedback v1\x00"

func (m SignedFeedback) body() ([]byte, error) {
	fb, err := m.Feedback.Marshal()
	if err != nil {
		return nil, err
	}
	if err := checkTier(m.Decision.Tier, 0); err != nil {
		return nil, err
	}
	if err := checkFactors(m.Decision.Required, true); err != nil {
		return nil, err
	}
	if err := checkFactors(m.Decision.Satisfied, true); err != nil {
		return nil, err
	}
	if m.Feedback.Rule == RuleOK && m.Decision.Missing() != 0 {
		return nil, malformed("a booking with factors missing")
	}
	b := put8(put16(nil, fb), []byte(m.Decision.Tier))
	return append(b, byte(m.Decision.Required), byte(m.Decision.Satisfied)), nil
}

// SignedBytes returns what the server signs: SignedFeedbackLabel ‖ body.
func (m SignedFeedback) SignedBytes() ([]byte, error) {
	b, err := m.body()
	if err != nil {
		return nil, err
	}
	return append([]byte(SignedFeedbackLabel), b...), nil
}

// Marshal returns the canonical bytes of m.
func (m SignedFeedback) Marshal() ([]byte, error) {
	b, err := m.body()
	if err != nil {
		return nil, err
	}
	if len(m.Signature) < 8 || len(m.Signature) > MaxSignatureLen {
		return nil, malformed("signature of %d bytes", len(m.Signature))
	}
	return put8(append(header(TypeSignedFeedback), b...), m.Signature), nil
}

// ParseSignedFeedback decodes a SignedFeedback strictly (the signature is
// the verifier's job: verify.FeedbackSignature).
func ParseSignedFeedback(b []byte) (SignedFeedback, error) {
	var r reader
	r.open(b, TypeSignedFeedback)
	fb := r.bytes16(1, 1024)
	var m SignedFeedback
	m.Decision.Tier = string(r.bytes8(0, MaxTierLen))
	m.Decision.Required = policy.Set(r.U8())
	m.Decision.Satisfied = policy.Set(r.U8())
	m.Signature = r.bytes8(8, MaxSignatureLen)
	if !r.Done() {
		return SignedFeedback{}, malformed("signed feedback of %d bytes", len(b))
	}
	f, err := ParseFeedback(fb)
	if err != nil {
		return SignedFeedback{}, err
	}
	m.Feedback = f
	if _, err := m.Marshal(); err != nil {
		return SignedFeedback{}, err
	}
	return m, nil
}
