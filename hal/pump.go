package hal

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/ta/fingerprint"
)

// pumpRetryPause spaces NEXT_EVENT retries after a failure that is not the
// TA's death (a malformed event), so a misbehaving TA cannot spin the pump.
const pumpRetryPause = 100 * time.Millisecond

// pump turns the TA's events into client callbacks until the connection is
// dropped: the legacy HAL's notify thread. After every callback that ends
// an operation, and within one EventWait of a successful setActiveGroup, it
// relays the bio outbox.
func (h *HAL) pump(c *conn) {
	defer h.pumps.Done()
	h.relayOutbox(c) // reports the TA queued before the HAL connected (finger lists at start)
	for {
		e, err := c.ta.NextEvent(c.ctx, h.cfg.EventWait)
		if c.ctx.Err() != nil {
			return
		}
		if err != nil {
			if taDead(err) {
				h.drop(c, err)
				return
			}
			h.log.Error("NEXT_EVENT failed", zap.Error(err))
			select {
			case <-time.After(pumpRetryPause):
			case <-c.ctx.Done():
				return
			}
			continue
		}
		if h.relayWanted.Swap(false) {
			h.relayOutbox(c)
		}
		if e.Type == fingerprint.MsgNone {
			continue
		}
		cb, ok := callbackFromEvent(h.deviceID, e)
		if !ok {
			h.log.Warn("TA event dropped: no HIDL callback for it", zap.Stringer("event", e))
			continue
		}
		h.deliver(cb)
		if hidl.Ends(cb) {
			h.relayOutbox(c)
		}
	}
}

// relayOutbox drains the fingerprint TA's bio outbox to the payment TA, in
// order (docs/protocol.md §8.3). Without a running payment TA nothing is
// fetched: the envelopes wait in the TA's bounded outbox, which keeps the
// newest finger list per group and drops the oldest auth results. An
// envelope fetched but not deliverable because the payment TA went away is
// kept (at most bio.MaxPending, oldest dropped) and delivered first next
// time; one the payment TA refuses is dropped.
func (h *HAL) relayOutbox(c *conn) {
	if h.cfg.Payment == nil {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, h.cfg.CallTimeout)
	defer cancel()
	relay, err := h.cfg.Payment(ctx)
	if err != nil {
		if !errors.Is(err, ErrNoPaymentTA) {
			h.log.Warn("payment TA unreachable; bio envelopes stay queued", zap.Error(err))
		}
		return
	}
	defer relay.Close()

	if !h.deliverPending(ctx, relay) {
		return
	}
	for {
		envs, more, err := c.ta.FetchOutbox(ctx)
		if err != nil {
			if taDead(err) {
				h.drop(c, err)
			} else {
				h.log.Error("FETCH_OUTBOX failed", zap.Error(err))
			}
			return
		}
		h.mu.Lock()
		h.pending = append(h.pending, envs...)
		if over := len(h.pending) - bio.MaxPending; over > 0 {
			h.log.Warn("bio envelopes dropped: payment TA not accepting", zap.Int("dropped", over))
			h.pending = append([][]byte(nil), h.pending[over:]...)
		}
		h.mu.Unlock()
		if !h.deliverPending(ctx, relay) || len(envs) == 0 || more == 0 {
			return
		}
	}
}

// deliverPending delivers the kept envelopes in order. It returns false if
// the payment TA could not be reached (the rest stay kept).
func (h *HAL) deliverPending(ctx context.Context, relay BioRelay) bool {
	for {
		h.mu.Lock()
		if len(h.pending) == 0 {
			h.mu.Unlock()
			return true
		}
		env := h.pending[0]
		h.mu.Unlock()
		err := relay.Deliver(ctx, env)
		if err != nil && (taDead(err) || ctx.Err() != nil) {
			h.log.Warn("bio envelope not delivered; kept for the next relay", zap.Error(err))
			return false
		}
		h.mu.Lock()
		h.pending = h.pending[1:]
		h.mu.Unlock()
		if err != nil {
			h.log.Warn("payment TA refused a bio envelope; dropped", zap.Error(err))
		} else {
			h.log.Info("bio envelope relayed to the payment TA", zap.Int("bytes", len(env)))
		}
	}
}
