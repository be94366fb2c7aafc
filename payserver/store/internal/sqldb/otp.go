package sqldb

import (
	"context"
	"errors"
	"fmt"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/store"
)

// maxAlgorithmLen bounds OTPSeed.Algorithm.
const maxAlgorithmLen = 32

func checkOTPRef(r store.OTPRef) error {
	if len(r.App) == 0 || len(r.App) > proof.MaxAppIDLen {
		return invalidf("OTP seed %s: app id 1..%d bytes", r, proof.MaxAppIDLen)
	}
	return nil
}

func checkOTPSeed(s store.OTPSeed) error {
	if err := checkOTPRef(s.Ref); err != nil {
		return err
	}
	switch {
	case len(s.Algorithm) == 0 || len(s.Algorithm) > maxAlgorithmLen:
		return invalidf("OTP algorithm of %d bytes, want 1..%d", len(s.Algorithm), maxAlgorithmLen)
	case s.Digits < 6 || s.Digits > 8:
		return invalidf("OTP digits %d, want 6..8", s.Digits)
	case s.PeriodSeconds < 1 || s.PeriodSeconds > 60:
		return invalidf("OTP period %d s, want 1..60", s.PeriodSeconds)
	case s.Epoch < 0:
		return invalidf("OTP epoch %d", s.Epoch)
	case len(s.Sealed) == 0 || len(s.Sealed) > store.MaxSealedSeedLen:
		return invalidf("sealed OTP seed of %d bytes, want 1..%d", len(s.Sealed), store.MaxSealedSeedLen)
	}
	return nil
}

// PutOTPSeed implements store.Store.
func (e *Engine) PutOTPSeed(ctx context.Context, s store.OTPSeed) error {
	if err := checkOTPSeed(s); err != nil {
		return err
	}
	return e.tx(ctx, func(q Q) error {
		if err := deviceUsable(ctx, q, s.Ref.Device); err != nil {
			return err
		}
		// Replace in place (last_step untouched) or insert; a concurrent
		// insert makes ours a unique violation and tx runs it again.
		n, err := q.Exec(ctx, `UPDATE otp_seeds SET algorithm = $3, digits = $4, period_s = $5, epoch_s = $6, sealed = $7, created_ms = $8
WHERE device_id = $1 AND app_id = $2`,
			s.Ref.Device[:], s.Ref.App, s.Algorithm, s.Digits, s.PeriodSeconds, s.Epoch, s.Sealed, ms(e.o.Now()))
		if err != nil || n == 1 {
			return err
		}
		_, err = q.Exec(ctx, `INSERT INTO otp_seeds (device_id, app_id, algorithm, digits, period_s, epoch_s, sealed, last_step, created_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8)`,
			s.Ref.Device[:], s.Ref.App, s.Algorithm, s.Digits, s.PeriodSeconds, s.Epoch, s.Sealed, ms(e.o.Now()))
		return err
	})
}

// OTPSeed implements store.Store.
func (e *Engine) OTPSeed(ctx context.Context, ref store.OTPRef) (store.OTPSeed, error) {
	if err := checkOTPRef(ref); err != nil {
		return store.OTPSeed{}, err
	}
	var s store.OTPSeed
	err := e.tx(ctx, func(q Q) error {
		var digits, period int64
		var last *int64
		var created int64
		err := q.QueryRow(ctx, `SELECT algorithm, digits, period_s, epoch_s, sealed, last_step, created_ms
FROM otp_seeds WHERE device_id = $1 AND app_id = $2`, ref.Device[:], ref.App).
			Scan(&s.Algorithm, &digits, &period, &s.Epoch, &s.Sealed, &last, &created)
		if errors.Is(err, ErrNoRows) {
			return fmt.Errorf("%w: %s", store.ErrOTPUnknown, ref)
		}
		if err != nil {
			return err
		}
		s.Ref, s.Digits, s.PeriodSeconds, s.Created = ref, int(digits), int(period), fromMS(created)
		if last != nil {
			s.LastStep, s.HasLastStep = uint64(*last), true
		}
		return nil
	})
	if err != nil {
		return store.OTPSeed{}, err
	}
	return s, nil
}

// AcceptOTPStep implements store.Store: one conditional UPDATE is the
// compare-and-swap, so two requests with the same code cannot both
// succeed, in one process or several.
func (e *Engine) AcceptOTPStep(ctx context.Context, ref store.OTPRef, step uint64) error {
	if err := checkOTPRef(ref); err != nil {
		return err
	}
	if step > store.MaxOTPStep {
		return invalidf("OTP step %d over %d", step, uint64(store.MaxOTPStep))
	}
	return e.tx(ctx, func(q Q) error {
		if err := deviceUsable(ctx, q, ref.Device); err != nil {
			return err
		}
		n, err := q.Exec(ctx, `UPDATE otp_seeds SET last_step = $3
WHERE device_id = $1 AND app_id = $2 AND (last_step IS NULL OR last_step < $3)`, ref.Device[:], ref.App, int64(step))
		if err != nil || n == 1 {
			return err
		}
		var last *int64
		err = q.QueryRow(ctx, `SELECT last_step FROM otp_seeds WHERE device_id = $1 AND app_id = $2`, ref.Device[:], ref.App).Scan(&last)
		switch {
		case errors.Is(err, ErrNoRows):
			return fmt.Errorf("%w: %s", store.ErrOTPUnknown, ref)
		case err != nil:
			return err
		case last == nil:
			return errRetry // cannot happen: the UPDATE matched no row but there is one with no step
		}
		return fmt.Errorf("%w: %s step %d, last accepted %d", store.ErrOTPReplay, ref, step, *last)
	})
}
