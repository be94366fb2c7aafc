package taproc

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// harden makes the TA process keep its memory to itself as far as an
// ordinary process can, before it reads any secret:
//
//   - prctl(PR_SET_DUMPABLE, 0) (Linux prctl(2)): no core dump, and
//     ptrace(2) attach and /proc/PID/mem, /proc/PID/environ reads are
//     refused to every process of the same user that lacks CAP_SYS_PTRACE —
//     the REE apps running as the device's user cannot read the TA's keys;
//   - RLIMIT_CORE 0 (setrlimit(2)), so no core file is written even where
//     the kernel's core_pattern would pipe one.
//
// Root can still read a TA's memory; README "What fpemu cannot defend"
// says so. A phone keeps TEE memory from the REE with the memory
// controller (TrustZone TZASC).
func harden() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("taproc: setrlimit(RLIMIT_CORE, 0): %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("taproc: prctl(PR_SET_DUMPABLE, 0): %w", err)
	}
	return nil
}

// dumpable reports the process's PR_GET_DUMPABLE flag.
func dumpable() (bool, error) {
	v, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	return v != 0, err
}
