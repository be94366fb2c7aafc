package otp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fpemu/fpemu/payserver/store"
)

// StepStore keeps the last accepted step per (device, app):
// payserver/store.Store implements it.
type StepStore interface {
	// AcceptOTPStep records step as the last accepted one if it is
	// greater than the stored one (or none is stored), atomically; else
	// it returns an error wrapping store.ErrOTPReplay.
	AcceptOTPStep(ctx context.Context, ref store.OTPRef, step uint64) error
}

// DefaultSkew is how many steps either side of now a code may be from:
// one (RFC 6238 §5.2 recommends "at most one time step" of network
// delay; a 60 s SM3 step then accepts codes up to 2 min old).
const DefaultSkew = 1

// Verifier checks codes and accepts each at most once.
type Verifier struct {
	Store StepStore
	// Skew is the accepted steps either side of now, 0..MaxSkew; the
	// zero value means 0 (only the current step) — use DefaultSkew.
	Skew int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Verify checks code for the seed of ref under p and, if it matches a
// step of the window, records that step as accepted. It returns the step,
// or ErrMalformed, ErrMismatch, ErrReplay (also wrapping
// store.ErrOTPReplay) or a store error.
//
// When the code matches several steps of the window (a collision of two
// codes), the highest is accepted: accepting a lower one would leave the
// same code acceptable once more for the higher step.
func (v *Verifier) Verify(ctx context.Context, ref store.OTPRef, p Params, seed []byte, code string) (uint64, error) {
	if v.Store == nil {
		return 0, fmt.Errorf("%w: verifier without a step store", ErrParams)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	steps, err := p.Match(seed, code, now(), v.Skew)
	if err != nil {
		return 0, err
	}
	if len(steps) == 0 {
		return 0, ErrMismatch
	}
	step := slices.Max(steps)
	if err := v.Store.AcceptOTPStep(ctx, ref, step); err != nil {
		if errors.Is(err, store.ErrOTPReplay) {
			return 0, fmt.Errorf("%w: step %s: %w", ErrReplay, formatStep(step), err)
		}
		return 0, err
	}
	return step, nil
}
