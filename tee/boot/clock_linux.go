package boot

import "golang.org/x/sys/unix"

// BootTimeNs reads the host's CLOCK_BOOTTIME in nanoseconds: monotonic,
// shared by every process, and counting time suspended.
func BootTimeNs() (uint64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, err
	}
	return uint64(ts.Nano()), nil
}
