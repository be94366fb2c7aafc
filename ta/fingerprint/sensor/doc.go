// Package sensor is the fingerprint TA's virtual sensor: the secure
// peripheral a real TEE reads over a secure bus (SPI under TZ protection)
// and the REE cannot feed. Its state lives in the fingerprint TA process and
// is driven only through a separate sensor-control endpoint — its own Unix
// socket (DEVICE_DIR/sock/fingerprint-sensor.sock), its own UUID and
// commands — never through the HAL's channel.
//
// What a test or simulator can do to the sensor (docs/protocol.md,
// "Fingerprint TA commands and sensor control"):
//
//   - present a sample: the minutiae a capture extracted, in the matcher's
//     sample encoding (sim/finger renders a synthetic finger impression
//     with displacement, rotation, partial area and pressure/quality noise;
//     the TA never sees finger seeds);
//   - script acquisition messages (GOOD, PARTIAL, INSUFFICIENT,
//     IMAGER_DIRTY, TOO_SLOW, TOO_FAST, vendor codes) and "no finger",
//     which ends the capture with ERROR_TIMEOUT;
//   - inject faults, once or until cleared (HW_UNAVAILABLE, vendor codes);
//   - set the capture latency (0 for benchmarks).
//
// Scripted items form one FIFO queue; each capture of the TA consumes the
// next item, waiting while the queue is empty. Codes are AOSP's HIDL 2.1
// numbers (FingerprintAcquiredInfo, FingerprintError).
package sensor
