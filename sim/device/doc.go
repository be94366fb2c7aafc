// Package device is the REE side of an emulated device: the launcher that
// plays secure boot and supervises one OS process per trusted application
// (docs/architecture.md rules 2 and 3), and the relay that carries sealed envelopes
// between TAs the way the Android framework and HALs do.
//
// Boot loads (or creates) the device's fused key, mints a per-boot BootID
// and boot clock origin, and starts each TA with Config.Command (normally
// `fpemu ta <role> --dir DIR`). Each child gets its provisioning record on
// an inherited pipe (fd 3) and signals readiness on another (fd 4); see
// package tee/taproc for the child side. A child that exits before it is
// ready, or does not become ready within Config.ReadyTimeout, fails Boot
// with a *StartError carrying its exit status and stderr tail; Boot never
// leaves a process behind. Children run in their own process group with
// Pdeathsig=SIGKILL, so none outlives the launcher.
//
// Once up, the launcher watches every TA: a death is reported on
// Device.Events and in the log, and Config.Restart decides whether the TA
// is restarted with a fresh record of the same boot (same identity, keys
// and clock origin, so its sealed state persists), after which the key
// relay is redone. Clients of a dead TA get TEEC_ERROR_TARGET_DEAD from
// tee/rpc. Device.Shutdown stops everything by pid (SIGTERM, then SIGKILL
// after a grace period) and removes the sockets.
package device
