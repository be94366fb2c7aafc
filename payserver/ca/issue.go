package ca

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"

	"github.com/emmansun/gmsm/pkcs7"
	"github.com/emmansun/gmsm/smx509"
	"go.uber.org/zap"
)

// Profile is what an end entity is: a device (payment TA), a payment
// server, or a shield card (the secure element of docs/protocol.md §15).
type Profile string

// Profiles.
const (
	ProfileDevice Profile = "device"
	ProfileServer Profile = "server"
	// ProfileShield is a shield card's signing certificate: the device
	// profile's subject rules, usage sign only (a card has one key), and
	// the certificate policy OIDShieldCard, which only this profile sets:
	// the payment server logs in as a card only a certificate carrying
	// it, so a device certificate (same CA) cannot stand in for a card.
	ProfileShield Profile = "shield"
)

// OIDShieldCard is the certificatePolicies OID (RFC 5280 §4.2.1.4) of
// shield card certificates: a UUID-derived OID (ITU-T X.667 / ISO/IEC
// 9834-8 arc 2.25), which needs no registration. Its arc is wider than
// an int, so it is a smx509.OID, and the CA writes the extension itself
// (whatever GODEBUG x509usepolicies says).
var OIDShieldCard = mustOID("2.25.53650578824672744156796476339035030011")

func mustOID(s string) smx509.OID {
	o, err := smx509.ParseOID(s)
	if err != nil {
		panic(err) // a constant: a test covers it
	}
	return o
}

// shieldPolicies is the DER of certificatePolicies holding OIDShieldCard
// alone: SEQUENCE { SEQUENCE { OBJECT IDENTIFIER } } (RFC 5280
// §4.2.1.4, no qualifiers).
func shieldPolicies() []byte {
	body, _ := OIDShieldCard.MarshalBinary() // about 20 bytes: short-form lengths
	tlv := func(tag byte, v []byte) []byte { return append([]byte{tag, byte(len(v))}, v...) }
	return tlv(0x30, tlv(0x30, tlv(0x06, body)))
}

// HasShieldPolicy reports whether c carries the certificate policy
// OIDShieldCard (issued under ProfileShield).
func HasShieldPolicy(c *smx509.Certificate) bool {
	for _, p := range c.Policies {
		if p.Equal(OIDShieldCard) {
			return true
		}
	}
	return false
}

// Usage is which certificates a request asks for.
type Usage string

// Usages.
const (
	UsageSign Usage = "sign" // a signing certificate
	UsageEnc  Usage = "enc"  // an encryption certificate
	UsageDual Usage = "dual" // both, from two requests with one subject
)

// Validity bounds of end-entity certificates.
const (
	DefaultDeviceValidity = 2 * 365 * 24 * time.Hour
	DefaultServerValidity = 397 * 24 * time.Hour
	MinValidity           = time.Hour
	MaxValidity           = 5 * 365 * 24 * time.Hour
)

// maxNames bounds the subject alternative names of one request.
const maxNames = 32

// The key usages of GM/T 0015-2012 Annex C: table C.3 (end-entity signing
// certificate: digitalSignature, nonRepudiation) and table C.4 (end-entity
// encryption certificate: keyEncipherment, dataEncipherment,
// keyAgreement — the last for the GB/T 32918.3 key exchange the trusted
// channel runs with it).
const (
	signKeyUsage = smx509.KeyUsageDigitalSignature | smx509.KeyUsageContentCommitment
	encKeyUsage  = smx509.KeyUsageKeyEncipherment | smx509.KeyUsageDataEncipherment | smx509.KeyUsageKeyAgreement
)

// Request is one issuing request.
type Request struct {
	// CSR is the PKCS#10 request (DER or PEM): of the signing key for
	// UsageSign and UsageDual, of the encryption key for UsageEnc.
	CSR []byte
	// EncCSR is the encryption key's request of a UsageDual pair (same
	// subject as CSR, another key); empty otherwise.
	EncCSR  []byte
	Profile Profile
	// Usage defaults to UsageSign.
	Usage Usage
	// Validity is the certificates' lifetime (0: the profile's default;
	// bounds MinValidity..MaxValidity, and never past the root's notAfter).
	Validity time.Duration
	// Device is, for ProfileShield only, the id of the phone the card is
	// issued for (32 lower-case hex digits, the CN of that phone's device
	// certificate): the certificate's subject is then CN=Device with the
	// request's O, in place of the card's own CN. The issuer (the bank
	// counter) names it, not the card: the payment server takes a card's
	// device from this subject and from nothing a caller says
	// (ShieldDevice; docs/protocol.md §15.6). Empty keeps the request's
	// subject. Any other profile with Device set is ErrProfile.
	Device string
}

// Issued is what Issue returns: the certificates (signing first for a
// dual pair) and the root they chain to.
type Issued struct {
	Certs []*smx509.Certificate
	Root  *smx509.Certificate
}

// PKCS7 returns the certificates and the root as a PKCS#7 certs-only
// message (RFC 2315 §9.1 degenerate SignedData; gmsm pkcs7
// DegenerateCertificate), leaves first, DER.
func (i *Issued) PKCS7() ([]byte, error) {
	var all []byte
	for _, c := range i.Certs {
		all = append(all, c.Raw...)
	}
	all = append(all, i.Root.Raw...)
	der, err := pkcs7.DegenerateCertificate(all)
	if err != nil {
		return nil, fmt.Errorf("ca: pkcs7: %w", err)
	}
	return der, nil
}

// EncodePKCS7 returns the PEM form ("PKCS7", RFC 7468 §8) of a DER PKCS#7.
func EncodePKCS7(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: der}) }

// request is one checked PKCS#10 request.
type request struct {
	csr        *smx509.CertificateRequest
	csrHash    [32]byte
	spkiHash   [32]byte
	dns        []string
	ips        []net.IP
	usage      Usage
	serial     *big.Int
	certDER    []byte
	subjectStr string
	rawSubject []byte // the issued subject when the CA names it (Request.Device); else the CSR's
}

// Issue checks the request(s) and issues the certificates. The checks, in
// order, each a refusal: profile and usage known (ErrProfile); each
// request within MaxCSRSize and parsing (ErrTooLarge, ErrMalformed); its
// key SM2 and its algorithm SM2-with-SM3 (ErrNotSM2); its self-signature
// valid (ErrBadSignature); subject and names allowed by the profile
// (ErrSubject); no basicConstraints or unknown critical extension
// (ErrExtension); validity in bounds (ErrValidity); then, in the
// register's transaction, neither the request nor its key seen before
// (ErrDuplicate) and room in the register (ErrRegisterFull). The
// certificates and their register rows are written in one transaction:
// all or nothing.
func (c *CA) Issue(ctx context.Context, r Request) (*Issued, error) {
	if r.Usage == "" {
		r.Usage = UsageSign
	}
	if r.Device != "" && r.Profile != ProfileShield {
		return nil, fmt.Errorf("%w: a device name is only for profile shield", ErrProfile)
	}
	var defValidity time.Duration
	switch r.Profile {
	case ProfileDevice:
		defValidity = DefaultDeviceValidity
	case ProfileServer:
		defValidity = DefaultServerValidity
	case ProfileShield:
		defValidity = DefaultDeviceValidity
		if r.Usage != UsageSign {
			return nil, fmt.Errorf("%w: a shield card certificate is usage sign only", ErrProfile)
		}
		if r.Device != "" && !isDeviceID(r.Device) {
			return nil, fmt.Errorf("%w: shield device %q is not 32 lower-case hex digits", ErrSubject, r.Device)
		}
	default:
		return nil, fmt.Errorf("%w: profile %q (device, server or shield)", ErrProfile, r.Profile)
	}
	var ders [][]byte
	var usages []Usage
	switch r.Usage {
	case UsageSign, UsageEnc:
		if len(r.EncCSR) != 0 {
			return nil, fmt.Errorf("%w: a second request is only for usage dual", ErrProfile)
		}
		ders, usages = [][]byte{r.CSR}, []Usage{r.Usage}
	case UsageDual:
		if len(r.EncCSR) == 0 {
			return nil, fmt.Errorf("%w: usage dual needs the encryption key's request too", ErrProfile)
		}
		ders, usages = [][]byte{r.CSR, r.EncCSR}, []Usage{UsageSign, UsageEnc}
	default:
		return nil, fmt.Errorf("%w: usage %q (sign, enc or dual)", ErrProfile, r.Usage)
	}
	if r.Validity == 0 {
		r.Validity = defValidity
	}
	if r.Validity < MinValidity || r.Validity > MaxValidity {
		return nil, fmt.Errorf("%w: %v outside [%v, %v]", ErrValidity, r.Validity, MinValidity, MaxValidity)
	}
	now := c.opts.Now().UTC().Truncate(time.Second)
	notBefore, notAfter := now.Add(-backdate), now.Add(r.Validity)
	if notAfter.After(c.root.NotAfter) {
		return nil, fmt.Errorf("%w: would end %s, after the root (%s)", ErrValidity,
			notAfter.Format(time.RFC3339), c.root.NotAfter.UTC().Format(time.RFC3339))
	}

	reqs := make([]*request, len(ders))
	for i, der := range ders {
		q, err := c.check(der, r.Profile)
		if err != nil {
			if len(ders) > 1 {
				return nil, fmt.Errorf("%s request: %w", usages[i], err)
			}
			return nil, err
		}
		q.usage = usages[i]
		if r.Device != "" {
			if q.rawSubject, err = shieldSubject(r.Device, q.csr.Subject.Organization); err != nil {
				return nil, err
			}
		}
		reqs[i] = q
	}
	if len(reqs) == 2 {
		if !bytes.Equal(reqs[0].csr.RawSubject, reqs[1].csr.RawSubject) {
			return nil, fmt.Errorf("%w: the two requests of a dual pair name different subjects", ErrSubject)
		}
		if reqs[0].spkiHash == reqs[1].spkiHash {
			return nil, fmt.Errorf("%w: the signing and the encryption request carry the same key", ErrDuplicate)
		}
	}

	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("ca: register: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM certs`).Scan(&n); err != nil {
		return nil, fmt.Errorf("ca: register: %w", err)
	}
	if n+len(reqs) > c.opts.MaxRows {
		return nil, fmt.Errorf("%w: %d of %d rows", ErrRegisterFull, n, c.opts.MaxRows)
	}
	for _, q := range reqs {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM certs WHERE csr_sha256 = ? OR spki_sha256 = ?`, q.csrHash[:], q.spkiHash[:]).Scan(&one)
		if err != nil {
			return nil, fmt.Errorf("ca: register: %w", err)
		}
		if one != 0 {
			return nil, fmt.Errorf("%w: this request or its key is in the register already", ErrDuplicate)
		}
		for {
			if q.serial, err = randomSerial(c.opts.Rand); err != nil {
				return nil, err
			}
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM certs WHERE serial = ?`, FormatSerial(q.serial)).Scan(&one); err != nil {
				return nil, fmt.Errorf("ca: register: %w", err)
			}
			if one == 0 && (q == reqs[0] || q.serial.Cmp(reqs[0].serial) != 0) {
				break
			}
		}
	}
	out := &Issued{Root: c.root}
	for i, q := range reqs {
		tmpl := c.template(q, r.Profile, notBefore, notAfter)
		der, err := smx509.CreateCertificate(c.opts.Rand, tmpl, c.root, q.csr.PublicKey, c.key)
		if err != nil {
			return nil, fmt.Errorf("ca: sign certificate: %w", err)
		}
		cert, err := smx509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("ca: issued certificate does not parse: %w", err)
		}
		q.certDER = der
		q.subjectStr = cert.Subject.String()
		var pair any
		if len(reqs) == 2 {
			pair = FormatSerial(reqs[1-i].serial)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO certs (serial, subject, profile, usage, pair, not_before, not_after,
			issued_at, csr_sha256, spki_sha256, der) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
			FormatSerial(q.serial), q.subjectStr, string(r.Profile), string(q.usage), pair,
			notBefore.Unix(), notAfter.Unix(), now.Unix(), q.csrHash[:], q.spkiHash[:], der); err != nil {
			return nil, fmt.Errorf("ca: register: %w", err)
		}
		out.Certs = append(out.Certs, cert)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("ca: register: %w", err)
	}
	for _, q := range reqs {
		c.opts.Logger.Info("issued", zap.String("serial", FormatSerial(q.serial)), zap.String("subject", q.subjectStr),
			zap.String("profile", string(r.Profile)), zap.String("usage", string(q.usage)), zap.Time("not_after", notAfter))
	}
	return out, nil
}

// template is the certificate the CA signs for a checked request: only
// the subject, the key and the names come from the request; everything
// else from the profile and usage.
func (c *CA) template(q *request, p Profile, notBefore, notAfter time.Time) *smx509.Certificate {
	t := &smx509.Certificate{
		SerialNumber: q.serial,
		RawSubject:   q.subject(),
		NotBefore:    notBefore, NotAfter: notAfter,
		BasicConstraintsValid: true, IsCA: false,
		SubjectKeyId: keyID(q.csr.PublicKey.(*ecdsa.PublicKey)),
		DNSNames:     q.dns, IPAddresses: q.ips,
	}
	if q.usage == UsageSign {
		t.KeyUsage = signKeyUsage
	} else {
		t.KeyUsage = encKeyUsage
	}
	switch p {
	case ProfileDevice:
		t.ExtKeyUsage = []smx509.ExtKeyUsage{smx509.ExtKeyUsageClientAuth}
	case ProfileServer:
		t.ExtKeyUsage = []smx509.ExtKeyUsage{smx509.ExtKeyUsageServerAuth}
	case ProfileShield:
		t.ExtKeyUsage = []smx509.ExtKeyUsage{smx509.ExtKeyUsageClientAuth}
		t.ExtraExtensions = []pkix.Extension{{Id: oidCertificatePolicies, Value: shieldPolicies()}}
	}
	return t
}

var (
	oidSAN              = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidExtKeyUsage      = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidSubjectKeyID     = asn1.ObjectIdentifier{2, 5, 29, 14}
	// oidCertificatePolicies is RFC 5280 §4.2.1.4.
	oidCertificatePolicies = asn1.ObjectIdentifier{2, 5, 29, 32}

	oidCN = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidC  = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidO  = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU = asn1.ObjectIdentifier{2, 5, 4, 11}
)

// check runs the per-request checks of Issue (all but the register's).
func (c *CA) check(der []byte, p Profile) (*request, error) {
	csr, err := DecodeCSR(der)
	if err != nil {
		return nil, err
	}
	if !isSM2(csr.PublicKey) {
		return nil, fmt.Errorf("%w: key algorithm %v", ErrNotSM2, csr.PublicKeyAlgorithm)
	}
	if csr.SignatureAlgorithm != smx509.SM2WithSM3 {
		return nil, fmt.Errorf("%w: signature algorithm %v, want SM2-SM3", ErrNotSM2, csr.SignatureAlgorithm)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	for _, e := range csr.Extensions {
		switch {
		case e.Id.Equal(oidBasicConstraints):
			return nil, fmt.Errorf("%w: basicConstraints (this CA issues end-entity certificates only)", ErrExtension)
		case e.Id.Equal(oidSAN), e.Id.Equal(oidKeyUsage), e.Id.Equal(oidExtKeyUsage), e.Id.Equal(oidSubjectKeyID):
			// names are checked below; usages and key id are the CA's choice
		case e.Critical:
			return nil, fmt.Errorf("%w: unknown critical extension %v", ErrExtension, e.Id)
		}
	}
	dns, ips, err := c.checkSubject(csr, p)
	if err != nil {
		return nil, err
	}
	return &request{
		csr: csr, csrHash: sha256.Sum256(csr.Raw), spkiHash: sha256.Sum256(csr.RawSubjectPublicKeyInfo),
		dns: dns, ips: ips,
	}, nil
}

// checkSubject enforces the profile's subject rules (docs/protocol.md, CA
// profiles) and returns the names the certificate gets.
//
// Both profiles: the subject holds exactly one commonName (RFC 5280
// ub-common-name: at most 64 characters) and otherwise only
// organizationName, organizationalUnitName and countryName (two letters),
// each at most once and at most 64 characters, printable ASCII; the
// commonName is not the root's. No e-mail or URI names.
//
// device: commonName is a device id of letters, digits, '-' and '_' (no
// dot, so it can never be mistaken for a server name); no subject
// alternative names at all.
//
// server: commonName is a lowercase DNS host name (RFC 1123, no wildcard);
// DNS and IP names allowed (at most maxNames), each DNS name a host name;
// the commonName is added as a DNS name if absent (RFC 6125 §6.4.4:
// clients match subjectAltName).
func (c *CA) checkSubject(csr *smx509.CertificateRequest, p Profile) ([]string, []net.IP, error) {
	seen := map[string]bool{}
	for _, a := range csr.Subject.Names {
		var key string
		switch {
		case a.Type.Equal(oidCN):
			key = "CN"
		case a.Type.Equal(oidO):
			key = "O"
		case a.Type.Equal(oidOU):
			key = "OU"
		case a.Type.Equal(oidC):
			key = "C"
		default:
			return nil, nil, fmt.Errorf("%w: attribute %v not allowed", ErrSubject, a.Type)
		}
		if seen[key] {
			return nil, nil, fmt.Errorf("%w: %s given twice", ErrSubject, key)
		}
		seen[key] = true
		s, ok := a.Value.(string)
		if !ok || s == "" || len(s) > 64 || !printable(s) {
			return nil, nil, fmt.Errorf("%w: %s must be 1 to 64 printable ASCII characters", ErrSubject, key)
		}
		if key == "C" && (len(s) != 2 || strings.ToUpper(s) != s || !isLetters(s)) {
			return nil, nil, fmt.Errorf("%w: C must be two capital letters (ISO 3166)", ErrSubject)
		}
	}
	cn := csr.Subject.CommonName
	if !seen["CN"] {
		return nil, nil, fmt.Errorf("%w: no commonName", ErrSubject)
	}
	if strings.EqualFold(cn, c.root.Subject.CommonName) {
		return nil, nil, fmt.Errorf("%w: commonName is the root's", ErrSubject)
	}
	if len(csr.EmailAddresses) != 0 || len(csr.URIs) != 0 {
		return nil, nil, fmt.Errorf("%w: e-mail and URI names are not allowed", ErrSubject)
	}
	switch p {
	case ProfileDevice, ProfileShield:
		if err := checkName(cn, false); err != nil {
			return nil, nil, fmt.Errorf("%w: device commonName: %v", ErrSubject, err)
		}
		if len(csr.DNSNames) != 0 || len(csr.IPAddresses) != 0 {
			return nil, nil, fmt.Errorf("%w: a device certificate carries no alternative names", ErrSubject)
		}
		return nil, nil, nil
	default:
		if err := checkHost(cn); err != nil {
			return nil, nil, fmt.Errorf("%w: server commonName: %v", ErrSubject, err)
		}
		if len(csr.DNSNames)+len(csr.IPAddresses) > maxNames {
			return nil, nil, fmt.Errorf("%w: more than %d alternative names", ErrSubject, maxNames)
		}
		dns := []string{cn}
		for _, d := range csr.DNSNames {
			if err := checkHost(d); err != nil {
				return nil, nil, fmt.Errorf("%w: DNS name: %v", ErrSubject, err)
			}
			if d != cn {
				dns = append(dns, d)
			}
		}
		for _, ip := range csr.IPAddresses {
			if ip.IsUnspecified() || ip.IsMulticast() {
				return nil, nil, fmt.Errorf("%w: IP name %v", ErrSubject, ip)
			}
		}
		return dns, csr.IPAddresses, nil
	}
}

// checkName: a device id, or a root name (inner single spaces allowed).
func checkName(s string, spaces bool) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("%q: 1 to 64 characters", s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || spaces && r == ' ') {
			return fmt.Errorf("%q: only letters, digits, '-' and '_'", s)
		}
	}
	if strings.TrimSpace(s) != s || strings.Contains(s, "  ") {
		return fmt.Errorf("%q: stray spaces", s)
	}
	return nil
}

// checkHost: a lowercase RFC 1123 host name, no wildcard, 1..253 octets,
// labels 1..63 of letters, digits and inner hyphens.
func checkHost(s string) error {
	if s == "" || len(s) > 253 {
		return fmt.Errorf("%q: 1 to 253 characters", s)
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("%q: not a host name", s)
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("%q: not a lowercase host name (no wildcard)", s)
			}
		}
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return false
		}
	}
	return true
}

func isLetters(s string) bool {
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// ParsePKCS7 reads a PKCS#7 certs-only message (DER, or PEM "PKCS7") as
// Issue's response carries it and returns its certificates in order;
// ErrMalformed if it is anything else or larger than maxPKCS7Size.
func ParsePKCS7(b []byte) ([]*smx509.Certificate, error) {
	if len(b) > maxPKCS7Size {
		return nil, fmt.Errorf("%w: PKCS#7 of %d bytes, at most %d", ErrMalformed, len(b), maxPKCS7Size)
	}
	der := b
	if t := bytes.TrimSpace(b); bytes.HasPrefix(t, []byte("-----BEGIN")) {
		blk, rest := pem.Decode(t)
		if blk == nil || blk.Type != "PKCS7" || len(bytes.TrimSpace(rest)) != 0 {
			return nil, fmt.Errorf("%w: want one PEM PKCS7 block", ErrMalformed)
		}
		der = blk.Bytes
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, fmt.Errorf("%w: PKCS#7: %v", ErrMalformed, err)
	}
	if len(p7.Certificates) == 0 || len(p7.Signers) != 0 || len(p7.Content) != 0 {
		return nil, fmt.Errorf("%w: not a certs-only PKCS#7", ErrMalformed)
	}
	return p7.Certificates, nil
}

// maxPKCS7Size bounds a PKCS#7 response as read (a dual pair and the root
// are about 1.6 KB).
const maxPKCS7Size = 64 << 10

func (q *request) subject() []byte {
	if q.rawSubject != nil {
		return q.rawSubject
	}
	return q.csr.RawSubject
}

// isDeviceID reports whether s is a device id as a device certificate's
// CN spells it: 32 lower-case hex digits.
func isDeviceID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// shieldSubject is the DER subject CN=device, O=org… of a shield card
// certificate issued for a device (Request.Device).
func shieldSubject(device string, org []string) ([]byte, error) {
	name := pkix.Name{CommonName: device, Organization: org}
	der, err := asn1.Marshal(name.ToRDNSequence())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSubject, err)
	}
	return der, nil
}

// ShieldDevice is the device id (32 lower-case hex digits) a shield card
// certificate (ProfileShield, HasShieldPolicy) was issued for: its
// subject CN (Request.Device). ErrSubject if the CN is not a device id —
// a card certificate issued without one names no device.
func ShieldDevice(c *smx509.Certificate) (string, error) {
	cn := c.Subject.CommonName
	if !isDeviceID(cn) {
		return "", fmt.Errorf("%w: shield certificate subject %q names no device", ErrSubject, cn)
	}
	return cn, nil
}
