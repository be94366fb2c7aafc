// Package sensorproto is the client side of the fingerprint TA's
// sensor-control endpoint (docs/protocol.md §9.10): what a test bench or
// simulator in the REE needs to place fingers on the virtual sensor, and
// nothing of the sensor itself.
//
//   - the endpoint's UUID and socket name, the command codes (Command) and
//     their parameter layouts (Types*);
//   - Client, one method per command over any rpc.Invoker;
//   - the sample a capture extracts — Sample, Minutia, Kind and their
//     bounds (ISO/IEC 19794-2 minutia records) — and its strict, canonical
//     wire codec (MarshalSample, ParseSample).
//
// The virtual sensor (package sensor) and the matcher import this package;
// it imports neither, nor tee/store, tee/boot, tee/taproc or tee/tacore
// (docs/architecture.md, "Protocol packages"), so a REE tool that drives
// the sensor links none of the secure world.
package sensorproto
