package drive

import "time"

// SetOpTimeout shortens the flows' wait for an event for one test; the
// returned func restores it.
func SetOpTimeout(d time.Duration) (restore func()) {
	old := opTimeout
	opTimeout = d
	return func() { opTimeout = old }
}
