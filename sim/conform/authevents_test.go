package conform

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
)

// TestAuthEvents: the authentication check passes onAcquired, hands
// onAuthenticated and onError to their own checks and calls anything else
// unexpected, naming the operation.
func TestAuthEvents(t *testing.T) {
	errAuth, errFailed := errors.New("authenticated"), errors.New("failed")
	check := authEvents("authentication of group 7",
		func(fpproto.Event) error { return errAuth },
		func(fpproto.Event) error { return errFailed })
	for _, tc := range []struct {
		event fpproto.Event
		want  error  // the check it goes to
		msg   string // the unexpected error's text
	}{
		{event: fpproto.Event{Type: fpproto.MsgAcquired, Acquired: fpproto.AcquiredGood}},
		{event: fpproto.Event{Type: fpproto.MsgAuthenticated, FingerID: 1, GroupID: 7}, want: errAuth},
		{event: fpproto.Event{Type: fpproto.MsgError, Error: fpproto.ErrorLockout}, want: errFailed},
		{event: fpproto.Event{Type: fpproto.MsgTemplateEnrolling, FingerID: 1, GroupID: 7}, msg: "authentication of group 7: unexpected "},
	} {
		err := check(tc.event)
		switch {
		case tc.want != nil:
			assert.ErrorIs(t, err, tc.want, "%v", tc.event)
		case tc.msg != "":
			assert.ErrorContains(t, err, tc.msg, "%v", tc.event)
		default:
			assert.NoError(t, err, "%v", tc.event)
		}
	}
}
