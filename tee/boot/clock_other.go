//go:build unix && !linux

package boot

import "golang.org/x/sys/unix"

// BootTimeNs reads the host's CLOCK_MONOTONIC in nanoseconds. Only Linux
// has CLOCK_BOOTTIME; elsewhere the boot clock may not count suspend.
func BootTimeNs() (uint64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, err
	}
	return uint64(ts.Nano()), nil
}
