package hal

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
)

// pumpRetryPause spaces NEXT_EVENT retries after a failure that is not the
// TA's death (a malformed event), so a misbehaving TA cannot spin the pump.
const pumpRetryPause = 100 * time.Millisecond

// pump turns the TA's events into client callbacks until the connection is
// dropped: the legacy HAL's notify thread. It relays the bio outbox to the
// payment TA before a callback whose report the payment side depends on
// (relayFirst), after every other callback that ends an operation, and
// within one EventWait of a successful setActiveGroup.
func (h *HAL) pump(c *conn) {
	defer h.pumps.Done()
	if err := h.relayOutbox(c, "start"); err != nil { // reports queued before the HAL connected (finger lists at start)
		h.drop(c, err)
		return
	}
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
			if err := h.relayOutbox(c, "setActiveGroup"); err != nil {
				h.drop(c, err)
				return
			}
		}
		if e.Type == fpproto.MsgNone {
			continue
		}
		cb, ok := callbackFromEvent(h.deviceID, e)
		if !ok {
			h.log.Warn("TA event dropped: no HIDL callback for it", zap.Stringer("event", e))
			continue
		}
		var lost error // the TA died while relaying; dropped once cb is out
		first := relayFirst(cb)
		if first {
			if _, ok := cb.(hidl.OnRemoved); ok {
				h.awaitRemove(c)
			}
			lost = h.relayOutbox(c, "before "+cb.String())
		}
		h.deliver(cb)
		if !first && hidl.Ends(cb) {
			lost = h.relayOutbox(c, "after "+cb.String())
		}
		if lost != nil {
			h.drop(c, lost)
			return
		}
	}
}

// relayFirst reports whether the bio outbox is relayed before cb is
// delivered rather than after it. In QSEE the fingerprint TA
// calls bio_set_auth_result synchronously, before the token of a match
// leaves the TEE, and reports the finger list before an enrollment or a
// removal returns; so the payment TA must hold the auth result when the
// app receives onAuthenticated, and the new finger list when it receives
// the last onEnrollResult or onRemoved (docs/protocol.md §10.5). The TA
// queues the report before the event that ends the operation (a removal
// excepted: see awaitRemove). The other endings, onError and
// onEnumerate, carry nothing the payment side waits for; relaying after
// them keeps onError(ERROR_CANCELED), which a preempting method waits for,
// as prompt as the TA makes it.
func relayFirst(cb hidl.Callback) bool {
	switch c := cb.(type) {
	case hidl.OnAuthenticated:
		return !c.Rejected()
	case hidl.OnEnrollResult:
		return c.Remaining == 0
	case hidl.OnRemoved:
		return c.Remaining == 0
	}
	return false
}

// awaitRemove waits, at most RelayTimeout, until a REMOVE command in
// flight has returned. The fingerprint TA queues a removal's
// TEMPLATE_REMOVED events before it reports the new finger list (both
// within the REMOVE command), so the pump can see the last event while
// the list is not yet in the outbox; once the command has returned it is.
func (h *HAL) awaitRemove(c *conn) {
	h.mu.Lock()
	done := h.removing
	h.mu.Unlock()
	if done == nil {
		return
	}
	t := time.NewTimer(h.cfg.RelayTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		h.log.Warn("REMOVE still running after its last onRemoved; relaying without waiting for the finger list",
			zap.Duration("waited", h.cfg.RelayTimeout))
	case <-c.ctx.Done():
	}
}

// relayOutbox drains the fingerprint TA's bio outbox to the payment TA, in
// order (docs/protocol.md §8.3), within RelayTimeout; reason names the
// relay in the log. Without a running payment TA nothing is fetched: the
// envelopes wait in the TA's bounded outbox, which keeps the newest finger
// list per group and drops the oldest auth results. An envelope fetched
// but not delivered because the payment TA went away or did not answer in
// time is kept (at most bio.MaxPending, oldest dropped) and delivered
// first next time; one the payment TA refuses is dropped. Every failure is
// logged with its reason and never stops the callback that follows. The
// returned error is non-nil only if the fingerprint TA died during
// FETCH_OUTBOX: the caller drops the connection (after delivering its
// callback).
//
// The payment TA session is kept open from one relay to the next (see
// HAL.relay); one relay at a time uses it.
func (h *HAL) relayOutbox(c *conn, reason string) error {
	if h.cfg.Payment == nil {
		return nil
	}
	h.relayMu.Lock()
	defer h.relayMu.Unlock()
	log := h.log.With(zap.String("relay", reason))
	ctx, cancel := context.WithTimeout(c.ctx, h.cfg.RelayTimeout)
	defer cancel()
	if !h.openRelay(ctx, log) {
		return nil
	}
	run := relayRun{ctx: ctx, log: log}
	if !h.deliverPending(&run) {
		return nil
	}
	for {
		envs, more, err := c.ta.FetchOutbox(ctx)
		if err != nil {
			if c.ctx.Err() != nil {
				// The HAL is closing (or dropped this connection): the
				// envelopes stay in the TA's outbox; not a failure.
				log.Debug("FETCH_OUTBOX abandoned: HAL closing", zap.Error(err))
				return nil
			}
			if taDead(err) {
				log.Error("FETCH_OUTBOX failed: fingerprint TA lost", zap.Error(err))
				return err
			}
			log.Error("FETCH_OUTBOX failed", zap.Error(err))
			return nil
		}
		h.mu.Lock()
		h.pending = append(h.pending, envs...)
		if over := len(h.pending) - bio.MaxPending; over > 0 {
			log.Warn("bio envelopes dropped: payment TA not accepting", zap.Int("dropped", over))
			h.pending = append([][]byte(nil), h.pending[over:]...)
		}
		h.mu.Unlock()
		if !h.deliverPending(&run) || len(envs) == 0 || more == 0 {
			return nil
		}
	}
}

// openRelay makes sure h.relay is a session on the payment TA, opening one
// if none is kept; false (logged) if the payment TA cannot be reached.
// The caller holds relayMu.
func (h *HAL) openRelay(ctx context.Context, log *zap.Logger) bool {
	if h.relay != nil {
		lc, ok := h.relay.(relayLiveness)
		if !ok || !lc.PeerClosed() {
			return true
		}
		// The payment TA went away since the last relay: find out now,
		// before fetching, so that with no payment TA the envelopes stay
		// in the fingerprint TA's outbox (and its per-group policy).
		log.Info("kept payment TA session closed by the TA; opening a new one")
		h.closeRelay()
	}
	relay, err := h.cfg.Payment(ctx)
	if err != nil {
		if errors.Is(err, ErrNoPaymentTA) {
			log.Debug("no payment TA: bio envelopes stay in the fingerprint TA's outbox", zap.Error(err))
		} else {
			log.Warn("payment TA unreachable; bio envelopes stay queued", zap.Error(err))
		}
		return false
	}
	h.relay = relay
	return true
}

// relayLiveness is implemented by a BioRelay that can tell, without a
// round trip, that its payment TA has closed the session's connection.
type relayLiveness interface{ PeerClosed() bool }

// closeRelay closes and forgets the kept payment TA session. The caller
// holds relayMu.
func (h *HAL) closeRelay() {
	if h.relay != nil {
		_ = h.relay.Close()
		h.relay = nil
	}
}

// relayRun is the state of one relayOutbox.
type relayRun struct {
	ctx      context.Context
	log      *zap.Logger
	redialed bool // the kept session was found dead and replaced once
}

// deliverPending delivers the kept envelopes in order on h.relay. It
// returns false if the payment TA could not be reached or did not answer
// within the relay's deadline (the rest stay kept).
//
// A kept session the payment TA no longer serves (it was restarted since
// the last relay: TARGET_DEAD or COMMUNICATION) is replaced by a fresh one
// and the envelope retried on it, at most once per relay, so a payment TA
// that keeps dying costs one extra dial per relay and nothing more. A
// session whose command did not answer in time is closed too (its late
// answer must not be read as the next command's), and the next relay dials
// afresh. The caller holds relayMu.
func (h *HAL) deliverPending(run *relayRun) bool {
	for {
		h.mu.Lock()
		if len(h.pending) == 0 {
			h.mu.Unlock()
			return true
		}
		env := h.pending[0]
		h.mu.Unlock()
		err := h.relay.Deliver(run.ctx, env)
		if err != nil && (taDead(err) || run.ctx.Err() != nil) {
			h.closeRelay()
			if taDead(err) && run.ctx.Err() == nil && !run.redialed {
				run.redialed = true
				run.log.Info("payment TA session lost; opening a new one", zap.Error(err))
				if h.openRelay(run.ctx, run.log) {
					continue
				}
				return false
			}
			run.log.Warn("bio envelope not delivered; kept for the next relay", zap.Error(err))
			return false
		}
		h.mu.Lock()
		h.pending = h.pending[1:]
		h.mu.Unlock()
		if err != nil {
			run.log.Warn("payment TA refused a bio envelope; dropped", zap.Error(err))
		} else {
			// Once per payment: debug (docs/benchmarks.md, issue 14);
			// every failure above is logged at warn or above.
			run.log.Debug("bio envelope relayed to the payment TA", zap.Int("bytes", len(env)))
		}
	}
}
