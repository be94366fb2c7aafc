package device

import (
	"fmt"
	"time"

	"github.com/fpemu/fpemu/tee"
)

// EventKind says what happened to a TA process after boot.
type EventKind int

// Launcher events.
const (
	// EventExited: a TA process died while the device was up (crash,
	// kill -9, OOM…). Status and Stderr say how.
	EventExited EventKind = iota + 1
	// EventRestarted: the launcher restarted a dead TA with a fresh
	// provisioning record of the same boot; PID is the new process. It is
	// sent once the TA serves and the key relay it needs has been done
	// (or has failed: EventRelayFailed comes first then).
	EventRestarted
	// EventRestartFailed: the restart policy allowed a restart but it
	// failed (Err says why); the role stays down.
	EventRestartFailed
	// EventGaveUp: the restart policy is exhausted (or forbids restarts);
	// the role stays down and its clients get TEEC_ERROR_TARGET_DEAD.
	EventGaveUp
	// EventRelayFailed: the REE key relay to a (re)started TA failed; the
	// TA runs without the auth-token key and refuses to mint HATs.
	EventRelayFailed
	// EventSocketTaken: a restart failed while something the launcher did
	// not create is on the TA's socket path; the launcher retries with
	// backoff until the path is free (sent once per restart; Err is the
	// first failure). Nothing is routed to what holds the path.
	EventSocketTaken
)

func (k EventKind) String() string {
	switch k {
	case EventExited:
		return "exited"
	case EventRestarted:
		return "restarted"
	case EventRestartFailed:
		return "restart-failed"
	case EventGaveUp:
		return "gave-up"
	case EventRelayFailed:
		return "relay-failed"
	case EventSocketTaken:
		return "socket-taken"
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// Event reports a change in a TA process's life after boot.
type Event struct {
	Kind   EventKind
	Role   tee.Role
	PID    int       // the process concerned (the new one for EventRestarted)
	Status string    // how the process ended, for EventExited
	Stderr string    // tail of its stderr, for EventExited
	Err    error     // for EventRestartFailed and EventRelayFailed
	Time   time.Time // when the launcher noticed
}

func (e Event) String() string {
	s := fmt.Sprintf("%s %s pid=%d", e.Role, e.Kind, e.PID)
	if e.Status != "" {
		s += " (" + e.Status + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// RestartPolicy says what the launcher does when a TA dies. The zero value
// never restarts: the death is reported and clients of that TA get
// TEEC_ERROR_TARGET_DEAD.
type RestartPolicy struct {
	// MaxRestarts is how many times, over the device's life, one role may
	// be restarted. 0 means never.
	MaxRestarts int
	// Backoff is the pause before each restart.
	Backoff time.Duration
}
