package fingerprint

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"sync"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/fingerprint/matcher"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tokens"
)

// bioResultRejected is the bio result code of a rejected finger (any
// non-zero value is a failure to the payment TA; docs/protocol.md §8.1).
const bioResultRejected uint32 = 1

// candidate is one template of the group being authenticated against.
type candidate struct {
	fid  uint32
	sid  uint64
	tmpl matcher.Template
}

// Authenticate is authenticate(operation_id, gid). It answers SYS_EBUSY
// while another operation runs and SYS_OK otherwise; the outcome is events
// (docs/protocol.md §9.6).
func (t *TA) Authenticate(operationID uint64, gid uint32) fpproto.RequestStatus {
	op, ctx, st := t.begin(opAuthenticate)
	if st != fpproto.SysOK {
		return st
	}
	end := func(ev fpproto.Event) fpproto.RequestStatus {
		t.Log.Info("authenticate refused", zap.Uint32("gid", gid), zap.Stringer("event", ev))
		t.finish(op, &ev)
		return fpproto.SysOK
	}
	if t.AuthTokenMAC() == nil {
		return end(fpproto.ErrorEvent(fpproto.ErrorHWUnavailable, 0, uint32(fpproto.ReasonNoAuthTokenKey)))
	}
	gen := t.Store.Generation()
	state, cands, cached := t.authCache.get(gid, gen)
	if !cached {
		var err error
		if state, err = t.loadAuthState(ctx, gid); err != nil {
			t.Log.Error("authenticate: store", zap.Uint32("gid", gid), zap.Error(err))
			return end(fpproto.ErrorEvent(fpproto.ErrorUnableToProcess, 0, uint32(fpproto.ReasonInternal)))
		}
	}
	mode, left, clean, err := t.lockoutMode(ctx, gid, state.lockout)
	if err != nil {
		t.Log.Error("authenticate: lockout state", zap.Error(err))
		return end(fpproto.ErrorEvent(fpproto.ErrorUnableToProcess, 0, uint32(fpproto.ReasonInternal)))
	}
	switch mode {
	case LockoutPermanent:
		return end(fpproto.ErrorEvent(fpproto.ErrorLockoutPermanent, 0, 0))
	case LockoutTimed:
		return end(fpproto.ErrorEvent(fpproto.ErrorLockout, 0, uint32(left)))
	}
	if !cached {
		if cands, err = t.candidates(gid, state.recs); err != nil {
			t.Log.Error("authenticate: templates", zap.Uint32("gid", gid), zap.Error(err))
			return end(fpproto.ErrorEvent(fpproto.ErrorUnableToProcess, 0, uint32(fpproto.ReasonInternal)))
		}
		// Kept only if no write committed while it was read (nor the
		// lockout re-armed above).
		t.authCache.put(gid, gen, t.Store.Generation(), state, cands)
	}
	authID := state.authID
	// Routine, once per payment: debug (docs/benchmarks.md, issue 14).
	t.Log.Debug("authenticate started", zap.Uint32("gid", gid), zap.Int("templates", len(cands)))
	t.run(op, ctx, func(ctx context.Context) *fpproto.Event {
		return t.authenticate(ctx, operationID, gid, authID, cands, clean)
	})
	return fpproto.SysOK
}

// authState is what AUTHENTICATE reads of a group: its lockout state, its
// template records and its authenticator id. loadAuthState reads them in
// one store view (one read transaction, one consistent snapshot) where
// AUTHENTICATE used two, one for the lockout and one for the templates
// (~20 µs a payment: docs/benchmarks.md, issue 14).
type authState struct {
	lockout Lockout
	recs    []enrolled
	authID  uint64
}

// authStateCache keeps, per group, the authState AUTHENTICATE last read
// and the candidates parsed from it, with the store generation they were
// read at (tee/store Store.Generation: the number of write transactions
// committed). An entry is used only while the generation has not moved —
// every enrollment, removal, lockout change, re-arm or any other write of
// the TA's store moves it — so it is always exactly what a fresh store
// view would return, and a payment's AUTHENTICATE reads nothing from the
// store and parses nothing (the view and the unsealing of every template
// row were ~0.06 ms of TA CPU a payment: docs/benchmarks.md, issue 14). An
// entry is stored only if the generation did not move while it was read.
// Like every TA's memory it is the TEE's: a row the REE rewrites on disk
// is not read while the entry is valid, and is unsealed and checked as
// before when it is next read. Bounded by maxCachedGroups entries (the gid
// is the HAL's choice); a full cache is emptied.
type authStateCache struct {
	mu sync.Mutex
	m  map[uint32]authEntry
}

type authEntry struct {
	gen   uint64
	state authState
	cands []candidate
}

// maxCachedGroups bounds authStateCache.
const maxCachedGroups = 8

// get returns gid's entry if it was read at generation gen.
func (c *authStateCache) get(gid uint32, gen uint64) (authState, []candidate, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[gid]
	if !ok || e.gen != gen {
		return authState{}, nil, false
	}
	return e.state, e.cands, true
}

// put stores what was read at generation gen, if the store is still at
// that generation (now); otherwise it drops gid's entry.
func (c *authStateCache) put(gid uint32, gen, now uint64, st authState, cands []candidate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != now {
		delete(c.m, gid)
		return
	}
	if _, ok := c.m[gid]; c.m == nil || (len(c.m) >= maxCachedGroups && !ok) {
		c.m = make(map[uint32]authEntry)
	}
	st.recs = nil // parsed into cands; the records are not needed again
	c.m[gid] = authEntry{gen: gen, state: st, cands: cands}
}

func (t *TA) loadAuthState(ctx context.Context, gid uint32) (authState, error) {
	var st authState
	err := t.Store.View(ctx, func(tx *store.Tx) error {
		var err error
		if st.lockout, err = loadLockout(tx, gid); err != nil {
			return err
		}
		if st.recs, err = loadTemplates(tx, gid); err != nil {
			return err
		}
		st.authID, err = loadAuthenticatorID(tx, gid)
		return err
	})
	return st, err
}

// lockoutMode is gid's lockout l (as read by loadAuthState) seen in this
// boot, persisting the re-armed deadline if the state comes from another
// boot. clean reports that no failed attempt is recorded for gid.
func (t *TA) lockoutMode(ctx context.Context, gid uint32, l Lockout) (mode LockoutMode, left uint64, clean bool, err error) {
	now := t.Clock.NowMs()
	if l.Failed != 0 && !bytes.Equal(l.BootID, t.BootID) {
		// A state of another boot: re-arm it on this boot's clock, once.
		err = t.Store.Tx(ctx, func(tx *store.Tx) error {
			stored, err := loadLockout(tx, gid)
			if err != nil {
				return err
			}
			l, _ = stored.inBoot(now, t.BootID, t.lockoutMs)
			return putLockout(tx, gid, l)
		})
		if err != nil {
			return LockoutNone, 0, false, err
		}
	}
	mode, left = l.Mode(now)
	return mode, left, l.Failed == 0, nil
}

// errNoWrite rolls back a transaction that decided nothing must change.
var errNoWrite = errors.New("fingerprint: no state change")

// candidates parses gid's template records (those of another matcher are
// skipped).
func (t *TA) candidates(gid uint32, recs []enrolled) ([]candidate, error) {
	out := make([]candidate, 0, len(recs))
	for _, r := range recs {
		if r.Record.Matcher != t.matcher.Name() {
			t.Log.Warn("template of another matcher skipped", zap.Uint32("gid", gid), zap.Uint32("fid", r.FID))
			continue
		}
		tmpl, err := t.templates.parse(t.matcher, r.Record.Template)
		if err != nil {
			return nil, errors.Join(ErrCorrupt, err)
		}
		out = append(out, candidate{fid: r.FID, sid: r.Record.SID, tmpl: tmpl})
	}
	return out, nil
}

// authenticate is the body of an authentication: capture, match, and on a
// match mint the HAT and end; on a rejection count the failure and go on
// unless that locked the group out. clean says no failed attempt was
// recorded for gid when the operation began; it stays true until this
// operation records one (only a rejection inside an authentication, which
// runs one at a time, adds a failure; RESET_LOCKOUT only clears).
func (t *TA) authenticate(ctx context.Context, opID uint64, gid uint32, authID uint64, cands []candidate, clean bool) *fpproto.Event {
	for {
		s, end := t.capture(ctx, ctx)
		if end != nil || ctx.Err() != nil {
			return end
		}
		if s == nil {
			continue
		}
		best := t.bestMatch(cands, *s)
		if ctx.Err() != nil {
			return nil
		}
		if best != nil {
			return t.accept(opID, gid, authID, best, clean)
		}
		clean = false
		if ev := t.reject(opID, gid, authID); ev != nil {
			return ev
		}
	}
}

// bestMatch returns the template with the highest score at or above the
// matcher's threshold, or nil. The score itself never leaves this
// function: nothing the REE can observe — log lines, events, error text,
// vendor codes, the bio hook's result — carries a score, distance or
// feature count, so a rejection is only "rejected" (the hill-climbing
// countermeasure of ISO/IEC 30107-1; Android CDD 7.3.10: the HAL reports
// accept or reject only).
//
// A matcher that implements matcher.ProbePreparer has the probe prepared
// once for all the group's templates (the same scores, bit for bit: the
// matcher's TestScoresGolden); every template is still compared whatever
// the scores, so the time a match takes depends on the group and the probe
// as before, not on which template matched.
func (t *TA) bestMatch(cands []candidate, probe matcher.Sample) *candidate {
	match := t.matcher.Match
	if pm, ok := t.matcher.(matcher.ProbePreparer); ok {
		if pp, err := pm.PrepareProbe(probe); err == nil {
			match = func(tmpl matcher.Template, _ matcher.Sample) (float64, error) {
				return pm.MatchPrepared(tmpl, pp)
			}
		} // else every Match fails with the same error, as without it
	}
	var best *candidate
	bestScore := -1.0
	for i := range cands {
		score, err := match(cands[i].tmpl, probe)
		if err != nil {
			// ErrForeignTemplate is the only documented failure: it
			// says nothing about the probe.
			t.Log.Warn("template not comparable", zap.Uint32("fid", cands[i].fid))
			continue
		}
		if score > bestScore {
			bestScore = score
			if score >= t.matcher.Threshold() {
				best = &cands[i]
			} else {
				best = nil
			}
		}
	}
	return best
}

// accept mints the FINGERPRINT HAT {challenge = operation_id, user_id = the
// SID bound at enrollment, authenticator_id, timestamp = now} (QSEE's
// "operation_id problem": challenge element, then HMAC), resets the
// lockout counter and reports the match to the bio hook. With clean (no
// failure recorded for gid, see authenticate) there is nothing to reset
// and no store transaction is opened: the write transaction that would
// find Failed == 0 and roll back cost every payment ~70 µs on the match
// hop (docs/benchmarks.md, issue 14 profiles).
func (t *TA) accept(opID uint64, gid uint32, authID uint64, c *candidate, clean bool) *fpproto.Event {
	mac := t.AuthTokenMAC()
	if mac == nil {
		ev := fpproto.ErrorEvent(fpproto.ErrorHWUnavailable, 0, uint32(fpproto.ReasonNoAuthTokenKey))
		return &ev
	}
	if !clean {
		t.clearFailures(gid)
	}
	tok := tokens.Token{
		Version:           tokens.Version,
		Challenge:         opID,
		UserID:            c.sid,
		AuthenticatorID:   authID,
		AuthenticatorType: tokens.AuthFingerprint,
		Timestamp:         t.Clock.NowMs(),
	}
	mac.Sign(&tok)
	m := bio.Match{UserID: c.sid, AuthenticatorID: authID, GroupID: gid, SensorVersion: t.sensorVer}
	if err := t.hook.SetAuthResult(bio.ResultSuccess, c.fid, opID, m); err != nil {
		t.Log.Error("bio: auth result not reported", zap.Error(err))
	}
	// Routine, once per payment: debug (docs/benchmarks.md, issue 14).
	t.Log.Debug("authenticated", zap.Uint32("gid", gid), zap.Uint32("fid", c.fid))
	ev := fpproto.FingerEvent(fpproto.MsgAuthenticated, c.fid, gid, 0)
	ev.HAT = tok.Marshal()
	return &ev
}

// clearFailures clears gid's failed attempts after a match, if any are
// recorded.
func (t *TA) clearFailures(gid uint32) {
	err := t.Store.Tx(context.Background(), func(tx *store.Tx) error {
		l, err := loadLockout(tx, gid)
		if err != nil {
			return err
		}
		if l.Failed == 0 {
			return errNoWrite // nothing to clear: no commit
		}
		return putLockout(tx, gid, Lockout{})
	})
	if err != nil && !errors.Is(err, errNoWrite) {
		// The match stands; a counter that failed to clear only locks
		// out early later (as Gatekeeper treats its failure record).
		t.Log.Error("authenticate: lockout not reset", zap.Uint32("gid", gid), zap.Error(err))
	}
}

// reject records a failed attempt (persisted before the event is queued),
// reports AUTHENTICATED(0) with no HAT (HIDL 2.1) and a failure to the bio
// hook, and returns the lockout error that ends the operation, if the
// failure locked the group out (LockoutFrameworkImpl).
func (t *TA) reject(opID uint64, gid uint32, authID uint64) *fpproto.Event {
	now := t.Clock.NowMs()
	var l Lockout
	err := t.Store.Tx(context.Background(), func(tx *store.Tx) error {
		stored, err := loadLockout(tx, gid)
		if err != nil {
			return err
		}
		l, _ = stored.inBoot(now, t.BootID, t.lockoutMs)
		l = l.fail(now, t.BootID, t.lockoutMs)
		return putLockout(tx, gid, l)
	})
	if err != nil {
		// An attempt that cannot be counted must not be allowed to repeat.
		t.Log.Error("authenticate: failure not recorded", zap.Uint32("gid", gid), zap.Error(err))
		ev := fpproto.ErrorEvent(fpproto.ErrorUnableToProcess, 0, uint32(fpproto.ReasonInternal))
		return &ev
	}
	m := bio.Match{AuthenticatorID: authID, GroupID: gid, SensorVersion: t.sensorVer}
	if err := t.hook.SetAuthResult(bioResultRejected, 0, opID, m); err != nil {
		t.Log.Error("bio: auth result not reported", zap.Error(err))
	}
	t.push(fpproto.FingerEvent(fpproto.MsgAuthenticated, 0, gid, 0))
	mode, left := l.Mode(now)
	t.Log.Info("rejected", zap.Uint32("gid", gid), zap.Uint32("failed", l.Failed), zap.Stringer("lockout", mode))
	switch mode {
	case LockoutPermanent:
		ev := fpproto.ErrorEvent(fpproto.ErrorLockoutPermanent, 0, 0)
		return &ev
	case LockoutTimed:
		ev := fpproto.ErrorEvent(fpproto.ErrorLockout, 0, uint32(left))
		return &ev
	}
	return nil
}

// ResetLockout clears gid's lockout and failure count given a fresh,
// authentic PASSWORD HAT of the group's owner (AIDL ISession.resetLockout:
// authenticity, recency and the session's user; the HIDL framework's
// FingerprintResetLockoutClient → resetFailedAttemptsForUser(
// clearAttemptCounter = true)). It returns the AOSP error and fpemu's
// reason the REE receives; resetLockout has the typed error.
func (t *TA) ResetLockout(ctx context.Context, gid uint32, hat []byte) (fpproto.Error, fpproto.Reason) {
	err := t.resetLockout(ctx, gid, hat)
	if err == nil {
		return fpproto.ErrorNoError, fpproto.ReasonNone
	}
	var he *fpproto.HATError
	if errors.As(err, &he) {
		t.Log.Info("reset_lockout refused", zap.Uint32("gid", gid), zap.Stringer("reason", he.Reason))
		return he.Code, he.Reason
	}
	t.Log.Error("reset_lockout: store", zap.Error(err))
	return fpproto.ErrorUnableToProcess, fpproto.ReasonInternal
}

// resetLockout checks, in this order, and clears gid's lockout only if all
// pass; a refusal writes nothing (the failure count is untouched):
//
//  1. checks 0–3, 5, 6 of checkPasswordHAT (no challenge)  → *HATError
//  2. the HAT's user_id is the SID bound to gid's templates → *HATError
//     ReasonHATUser wrapping ErrNotGroupOwner
//
// An empty group has no SID bound and no template a guess could match:
// any authentic, fresh PASSWORD HAT clears its counter (there is no owner
// to ask, and the next ENROLL binds one). Check 2 and the clearing are one
// store transaction, so an enrollment cannot slip between them.
func (t *TA) resetLockout(ctx context.Context, gid uint32, hat []byte) error {
	tok, err := t.checkPasswordHAT(hat, false)
	if err != nil {
		return err
	}
	err = t.Store.Tx(ctx, func(tx *store.Tx) error {
		sid, bound, err := groupSID(tx, gid)
		if err != nil {
			return err
		}
		if bound && tok.UserID != sid {
			return notOwner()
		}
		return putLockout(tx, gid, Lockout{})
	})
	if err != nil {
		return err
	}
	t.Log.Info("lockout reset", zap.Uint32("gid", gid))
	return nil
}

// templateCache keeps parsed templates (a matcher prepares its index when
// parsing, which costs more than a comparison) by the SHA-256 of their
// bytes, so an unchanged enrolled set is parsed once, not per
// AUTHENTICATE. Keyed by content, it can never serve a stale template.
type templateCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]matcher.Template
}

// maxCachedTemplates bounds the cache (it is emptied when full).
const maxCachedTemplates = 64

func (c *templateCache) parse(m matcher.Matcher, b []byte) (matcher.Template, error) {
	key := sha256.Sum256(append([]byte(m.Name()+"\x00"), b...))
	c.mu.Lock()
	t, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := m.ParseTemplate(b)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedTemplates {
		c.m = make(map[[sha256.Size]byte]matcher.Template)
	}
	c.m[key] = t
	c.mu.Unlock()
	return t, nil
}
