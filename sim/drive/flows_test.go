package drive_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
)

// script is a Fingerprint whose events are written in advance; it records
// the commands it was given.
type script struct {
	events []fpproto.Event
	calls  []string
}

func (s *script) PreEnroll(context.Context) (uint64, error) {
	s.calls = append(s.calls, "preEnroll")
	return 1, nil
}
func (s *script) Enroll(context.Context, []byte, uint32) error {
	s.calls = append(s.calls, "enroll")
	return nil
}
func (s *script) PostEnroll(context.Context) error {
	s.calls = append(s.calls, "postEnroll")
	return nil
}
func (s *script) Authenticate(context.Context, uint64, uint32) error {
	s.calls = append(s.calls, "authenticate")
	return nil
}
func (s *script) Cancel(context.Context) error {
	s.calls = append(s.calls, "cancel")
	s.events = append(s.events, fpproto.Event{Type: fpproto.MsgError, Error: fpproto.ErrorCanceled})
	return nil
}
func (s *script) Enumerate(context.Context) error { return nil }
func (s *script) SetActiveGroup(context.Context, uint32, string) error {
	return nil
}
func (s *script) AuthenticatorID(context.Context) (uint64, error) { return 1, nil }
func (s *script) Next(ctx context.Context, _ time.Duration) (fpproto.Event, bool, error) {
	if len(s.events) == 0 {
		return fpproto.Event{}, false, errors.New("script ran out of events")
	}
	e := s.events[0]
	s.events = s.events[1:]
	return e, true, nil
}

// sensor counts touches and resets.
type sensor struct{ touches, resets int }

func (s *sensor) Touch(context.Context, *finger.Finger, finger.Placement) error {
	s.touches++
	return nil
}
func (s *sensor) Reset(context.Context) error {
	s.resets++
	return nil
}

var (
	good      = fpproto.Event{Type: fpproto.MsgAcquired, Acquired: fpproto.AcquiredGood}
	partial   = fpproto.Event{Type: fpproto.MsgAcquired, Acquired: fpproto.AcquiredPartial}
	lockout   = fpproto.Event{Type: fpproto.MsgError, Error: fpproto.ErrorLockout}
	rejection = fpproto.Event{Type: fpproto.MsgAuthenticated}
	enumerate = fpproto.Event{Type: fpproto.MsgTemplateEnumerating, GroupID: 0}
)

func enrolling(fid, gid, remaining uint32) fpproto.Event {
	return fpproto.Event{Type: fpproto.MsgTemplateEnrolling, FingerID: fid, GroupID: gid, Remaining: remaining}
}

func match(fid, gid uint32) fpproto.Event {
	return fpproto.Event{Type: fpproto.MsgAuthenticated, FingerID: fid, GroupID: gid, HAT: []byte{1}}
}

func TestEnroll(t *testing.T) {
	for _, tc := range []struct {
		name    string
		events  []fpproto.Event
		observe drive.Observer
		want    drive.Enrolled
		wantErr error
		resets  int
	}{
		{
			name:   "a touch per sample asked for, and one again after a partial",
			events: []fpproto.Event{good, enrolling(7, 0, 2), partial, good, enrolling(7, 0, 1), good, enrolling(7, 0, 0)},
			want:   drive.Enrolled{FingerID: 7, Remaining: []uint32{2, 1, 0}, Acquired: 4, Touches: 4},
		},
		{
			name:    "an ERROR ends it with its OpError and empties the sensor",
			events:  []fpproto.Event{good, lockout},
			want:    drive.Enrolled{Acquired: 1, Touches: 1},
			wantErr: &drive.OpError{Code: fpproto.ErrorLockout},
			resets:  1,
		},
		{
			name:    "a result of another group is unexpected",
			events:  []fpproto.Event{enrolling(7, 3, 0)},
			want:    drive.Enrolled{Remaining: []uint32{0}, Touches: 1},
			wantErr: drive.ErrUnexpected,
		},
		{
			name:    "the observer's error ends it",
			events:  []fpproto.Event{enumerate},
			observe: func(fpproto.Event) error { return drive.ErrUnexpected },
			want:    drive.Enrolled{Touches: 1},
			wantErr: drive.ErrUnexpected,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fp, sen := &script{events: tc.events}, &sensor{}
			got, err := drive.Enroll(context.Background(), fp, sen, finger.New(1), []byte{1}, 0, tc.observe)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.want.Touches, sen.touches)
			assert.Equal(t, tc.resets, sen.resets)
		})
	}
}

func TestAuthenticate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		events  []fpproto.Event
		touches int
		want    drive.Authenticated
		wantErr error
		calls   []string
		sensed  int
	}{
		{
			name:   "a rejection is answered with another touch",
			events: []fpproto.Event{good, rejection, good, match(7, 0)},
			want:   drive.Authenticated{Event: match(7, 0), Rejections: 1, Acquired: 2},
			calls:  []string{"authenticate"},
			sensed: 2,
		},
		{
			name:    "after the last touch is rejected the operation is cancelled",
			events:  []fpproto.Event{rejection, rejection},
			touches: 2,
			want:    drive.Authenticated{Event: rejection, Rejections: 2},
			wantErr: drive.ErrNoMatch,
			calls:   []string{"authenticate", "cancel"},
			sensed:  2,
		},
		{
			name:    "an ERROR ends it with its OpError",
			events:  []fpproto.Event{lockout},
			want:    drive.Authenticated{Event: lockout},
			wantErr: &drive.OpError{Code: fpproto.ErrorLockout},
			calls:   []string{"authenticate"},
			sensed:  1,
		},
		{
			name:    "a match of another group is unexpected",
			events:  []fpproto.Event{match(7, 3)},
			want:    drive.Authenticated{Event: match(7, 3)},
			wantErr: drive.ErrUnexpected,
			calls:   []string{"authenticate"},
			sensed:  1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fp, sen := &script{events: tc.events}, &sensor{}
			got, err := drive.Authenticate(context.Background(), fp, sen, finger.New(1), 42, 0, drive.AuthOptions{Touches: tc.touches})
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.calls, fp.calls)
			assert.Equal(t, tc.sensed, sen.touches)
		})
	}
}

func TestOpError(t *testing.T) {
	err := drive.EventError(fpproto.Event{Type: fpproto.MsgError, Error: fpproto.ErrorUnableToProcess, Detail: uint32(fpproto.ReasonHATMAC)})
	assert.ErrorIs(t, err, &drive.OpError{Code: fpproto.ErrorUnableToProcess})
	assert.NotErrorIs(t, err, &drive.OpError{Code: fpproto.ErrorCanceled})
	assert.Equal(t, "ERROR_UNABLE_TO_PROCESS", (&drive.OpError{Code: fpproto.ErrorUnableToProcess}).Error())
}

// silent is a Fingerprint whose TA never sends another event after the
// scripted ones: Next waits its wait (or until ctx ends) and reports none,
// as NEXT_EVENT does.
type silent struct{ script }

func (s *silent) Next(ctx context.Context, wait time.Duration) (fpproto.Event, bool, error) {
	if len(s.events) > 0 {
		return s.script.Next(ctx, wait)
	}
	select {
	case <-time.After(wait):
		return fpproto.Event{}, false, nil
	case <-ctx.Done():
		return fpproto.Event{}, false, ctx.Err()
	}
}

// TestEnrollSilentTA: when the TA goes silent mid-enrollment the flow
// ends with ErrNoEvent (not a bare cancellation) and says where it
// stopped — how many touches, ACQUIRED events and remaining counts — so an
// unjudged attack row shows whether a touch or an event went missing; the
// caller's own deadline stays the caller's (context.DeadlineExceeded, not
// ErrNoEvent).
func TestEnrollSilentTA(t *testing.T) {
	defer drive.SetOpTimeout(50 * time.Millisecond)()
	for _, tc := range []struct {
		name     string
		deadline time.Duration // of the caller's context; 0 none
		want     error
		notWant  error
	}{
		{name: "the flow's wait runs out", want: drive.ErrNoEvent, notWant: context.DeadlineExceeded},
		{name: "the caller's deadline comes first", deadline: 10 * time.Millisecond, want: context.DeadlineExceeded, notWant: drive.ErrNoEvent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			fp := &silent{script{events: []fpproto.Event{good, enrolling(7, 0, 7)}}}
			if tc.deadline > 0 {
				fp.events = nil
			}
			_, err := drive.Enroll(ctx, fp, &sensor{}, finger.New(1), []byte{1}, 0, nil)
			require.ErrorIs(t, err, tc.want)
			assert.NotErrorIs(t, err, tc.notWant)
			if tc.deadline == 0 {
				assert.Contains(t, err.Error(), "enroll after 2 touches, 1 ACQUIRED, remaining [7]")
				assert.Contains(t, err.Error(), "within 50ms")
			}
		})
	}
}
