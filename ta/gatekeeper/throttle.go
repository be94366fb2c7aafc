package gatekeeper

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Throttling constants (AOSP system/gatekeeper gatekeeper.cpp).
const (
	// FailureTimeoutMs is failure_timeout_ms in ComputeRetryTimeout.
	FailureTimeoutMs = 30000
	// DayInMs is DAY_IN_MS, the timeout from the 140th failure on.
	DayInMs = 1000 * 60 * 60 * 24
	// FailureRecordSize is sizeof(failure_record_t), packed.
	FailureRecordSize = 8 + 8 + 4
)

// FailureRecord is failure_record_t (AOSP include/gatekeeper/gatekeeper.h):
// the throttling state of one secure user ID. Encoded packed, little-endian:
// secure_user_id (8) || last_checked_timestamp (8) || failure_counter (4).
type FailureRecord struct {
	SecureUserID         uint64
	LastCheckedTimestamp uint64 // boot-clock ms of the last counted attempt
	FailureCounter       uint32 // attempts since the last success
}

// ErrFailureRecord is returned (wrapped) by ParseFailureRecord.
var ErrFailureRecord = errors.New("gatekeeper: malformed failure record")

// ParseFailureRecord decodes exactly FailureRecordSize bytes.
func ParseFailureRecord(b []byte) (FailureRecord, error) {
	if len(b) != FailureRecordSize {
		return FailureRecord{}, fmt.Errorf("%w: %d bytes, want %d", ErrFailureRecord, len(b), FailureRecordSize)
	}
	return FailureRecord{
		SecureUserID:         binary.LittleEndian.Uint64(b[0:]),
		LastCheckedTimestamp: binary.LittleEndian.Uint64(b[8:]),
		FailureCounter:       binary.LittleEndian.Uint32(b[16:]),
	}, nil
}

// Marshal returns the FailureRecordSize-byte form of r.
func (r FailureRecord) Marshal() []byte {
	b := make([]byte, FailureRecordSize)
	binary.LittleEndian.PutUint64(b[0:], r.SecureUserID)
	binary.LittleEndian.PutUint64(b[8:], r.LastCheckedTimestamp)
	binary.LittleEndian.PutUint32(b[16:], r.FailureCounter)
	return b
}

// Increment is GateKeeper::IncrementFailureRecord: it records an attempt at
// boot time now for sid. AOSP increments before checking the password, so
// every attempt that passes ThrottleRequest is counted and a success clears
// the record afterwards. The counter saturates instead of wrapping to 0
// (which would silently lift a one-day timeout).
func (r FailureRecord) Increment(sid, now uint64) FailureRecord {
	r.SecureUserID = sid
	if r.FailureCounter < math.MaxUint32 {
		r.FailureCounter++
	}
	r.LastCheckedTimestamp = now
	return r
}

// ComputeRetryTimeout is GateKeeper::ComputeRetryTimeout: the retry timeout
// in milliseconds after failureCounter counted attempts.
//
//	0          → 0
//	1..10      → 30 s when the counter is a multiple of 5 (5, 10), else 0
//	11..29     → 30 s
//	30..139    → 30 s << ((counter-30)/10): 30 s, 1, 2, 4, ... 512 min
//	140..      → 1 day
//
// The code comment in gatekeeper.cpp says "[6, 10) -> 0" but the code (and so
// this function) gives 30 s at exactly 10.
func ComputeRetryTimeout(failureCounter uint32) uint32 {
	switch {
	case failureCounter == 0:
		return 0
	case failureCounter <= 10:
		if failureCounter%5 == 0 {
			return FailureTimeoutMs
		}
		return 0
	case failureCounter < 30:
		return FailureTimeoutMs
	case failureCounter < 140:
		return FailureTimeoutMs << ((failureCounter - 30) / 10)
	}
	return DayInMs
}

// Throttle is the outcome of ThrottleRequest.
type Throttle struct {
	// Rejected: answer ERROR_RETRY_TIMEOUT with RetryMs now, without
	// counting the attempt and without looking at the password.
	Rejected bool
	// RetryMs is the time the caller must wait, when Rejected.
	RetryMs uint32
	// Persist: Record changed and must be written before answering.
	Persist bool
	// Record is the (possibly updated) failure record.
	Record FailureRecord
}

// ThrottleRequest is GateKeeper::ThrottleRequest: whether an attempt at boot
// time now may proceed given the record of its SID.
//
// With a pending timeout T = ComputeRetryTimeout(counter) > 0 and last =
// last_checked_timestamp:
//   - last < now < last+T: rejected with the remaining T-(now-last) ms; the
//     record is unchanged and the attempt is not counted;
//   - now <= last (the boot clock restarted: the device rebooted or the
//     timer was reset): last_checked_timestamp := now, persisted, and the
//     attempt is rejected with the full T — a reboot does not shorten a
//     timeout;
//   - otherwise (the window has passed) the attempt proceeds.
//
// Without a pending timeout the attempt proceeds.
func ThrottleRequest(r FailureRecord, now uint64) Throttle {
	timeout := ComputeRetryTimeout(r.FailureCounter)
	if timeout == 0 {
		return Throttle{Record: r}
	}
	last := r.LastCheckedTimestamp
	switch {
	case now > last && now-last < uint64(timeout):
		return Throttle{Rejected: true, RetryMs: timeout - uint32(now-last), Record: r}
	case now <= last:
		r.LastCheckedTimestamp = now
		return Throttle{Rejected: true, RetryMs: timeout, Persist: true, Record: r}
	}
	return Throttle{Record: r}
}
