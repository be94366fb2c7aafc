package sqldb

import (
	"context"
	"errors"
	"fmt"

	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/payserver/store"
)

// SetTier implements store.Store.
func (e *Engine) SetTier(ctx context.Context, device proof.DeviceID, tier string) error {
	if err := store.CheckTier(tier); err != nil {
		return err
	}
	return e.tx(ctx, func(q Q) error {
		if err := deviceUsable(ctx, q, device); err != nil {
			return err
		}
		// Update in place or insert; a concurrent insert makes ours a
		// unique violation and tx runs it again.
		n, err := q.Exec(ctx, `UPDATE customer_tiers SET tier = $2, updated_ms = $3 WHERE device_id = $1`,
			device[:], tier, ms(e.o.Now()))
		if err != nil || n == 1 {
			return err
		}
		_, err = q.Exec(ctx, `INSERT INTO customer_tiers (device_id, tier, updated_ms) VALUES ($1, $2, $3)`,
			device[:], tier, ms(e.o.Now()))
		return err
	})
}

// Tier implements store.Store.
func (e *Engine) Tier(ctx context.Context, device proof.DeviceID) (string, error) {
	var tier string
	err := e.tx(ctx, func(q Q) error {
		err := q.QueryRow(ctx, `SELECT tier FROM customer_tiers WHERE device_id = $1`, device[:]).Scan(&tier)
		if errors.Is(err, ErrNoRows) {
			return fmt.Errorf("%w: %x", store.ErrTierUnset, device[:])
		}
		return err
	})
	if err != nil {
		return "", err
	}
	return tier, nil
}
