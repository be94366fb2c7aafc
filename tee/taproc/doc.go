// Package taproc is the child side of a trusted-application process: what
// `fpemu ta <role>` runs once the launcher (package sim/device) has started it.
//
// A TA process (docs/architecture.md rules 2, 3 and 6):
//
//  1. takes the two descriptors the launcher passed — the provisioning
//     record on RecordFD (3) and the readiness pipe on ReadyFD (4) — and
//     refuses to run without them (ErrNotLaunched), so a TA started by hand
//     fails at once instead of waiting on a terminal;
//  2. reads and decodes its record (tee/boot), closes the descriptor and
//     wipes the bytes: its identity, storage key, pairwise envelope keys
//     and the boot clock origin never touch argv, env, a file or a log;
//  3. builds the boot clock, a zap logger with component=<role>, the
//     envelope Sealer/Opener of its routes and the paths of its sealed
//     store, and hands them to the role's Factory, supplied by the caller
//     (device.Factory in sim/device, which `fpemu ta` uses), so this package imports no TA;
//     the device directory and everything it creates there are checked
//     without following links (CheckOwnedDir, EnsureDir, CheckFile);
//  4. listens on DIR/sock/<role>.sock (mode 0600; a path already taken is
//     an error, nothing is removed) — and on DIR/sock/<name>.sock for each
//     extra Endpoint of a TA that is an Endpointer (the fingerprint TA's
//     sensor control, owner-only by SO_PEERCRED: OwnerOnly) —, writes
//     ReadyLine on the readiness pipe and serves the CA→TA protocol
//     (tee/rpc) until SIGTERM or SIGINT;
//  5. then shuts the server down gracefully, closes the TA (its store),
//     removes the socket and exits 0.
package taproc
