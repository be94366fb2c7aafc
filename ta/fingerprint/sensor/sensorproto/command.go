package sensorproto

import (
	"strconv"

	"github.com/fpemu/fpemu/tee"
)

// UUID is the sensor-control endpoint's TA UUID. It is not a manifest role:
// it names a second listener of the fingerprint TA process, for the test
// bench, not a TA of the device.
var UUID = tee.MustParseUUID("a309ae65-70fb-47d2-9aef-46d473ec4aed")

// SocketName is the stem of the control socket in the device's sock/
// directory: DEVICE_DIR/sock/fingerprint-sensor.sock.
const SocketName = "fingerprint-sensor"

// Command is a sensor-control command identifier (docs/protocol.md §9.10):
//
//	PRESENT      p0 MEMREF_INPUT  sample (MarshalSample encoding)
//	ACQUIRED     p0 VALUE_INPUT   a = FingerprintAcquiredInfo, b = vendor code
//	NO_FINGER    –
//	FAULT        p0 VALUE_INPUT   a = FingerprintError, b = vendor code (once)
//	SET_FAULT    p0 VALUE_INPUT   a = FingerprintError (0 clears), b = vendor code (sticky)
//	SET_LATENCY  p0 VALUE_INPUT   a = milliseconds
//	RESET        –
//	STATUS       p0 VALUE_OUTPUT  a = queued items, b = captures waiting
//	             p1 VALUE_OUTPUT  a,b = captures completed (low, high)
//	             p2 VALUE_OUTPUT  a = latency ms, b = sticky fault error (0: none)
type Command uint32

// Sensor-control commands.
const (
	CmdPresent    Command = 1
	CmdAcquired   Command = 2
	CmdNoFinger   Command = 3
	CmdFault      Command = 4
	CmdSetFault   Command = 5
	CmdSetLatency Command = 6
	CmdReset      Command = 7
	CmdStatus     Command = 8
)

var commandNames = [...]string{"", "PRESENT", "ACQUIRED", "NO_FINGER", "FAULT", "SET_FAULT", "SET_LATENCY", "RESET", "STATUS"}

// String returns the command's name in docs/protocol.md §9.10.
func (c Command) String() string {
	if c >= CmdPresent && c <= CmdStatus {
		return commandNames[c]
	}
	return "sensor_command(0x" + strconv.FormatUint(uint64(c), 16) + ")"
}

// Parameter layouts of the sensor-control commands (above).
var (
	TypesPresent    = tee.ParamTypes{tee.ParamMemrefInput}
	TypesAcquired   = tee.ParamTypes{tee.ParamValueInput}
	TypesNoFinger   = tee.ParamTypes{}
	TypesFault      = tee.ParamTypes{tee.ParamValueInput}
	TypesSetFault   = tee.ParamTypes{tee.ParamValueInput}
	TypesSetLatency = tee.ParamTypes{tee.ParamValueInput}
	TypesReset      = tee.ParamTypes{}
	TypesStatus     = tee.ParamTypes{tee.ParamValueOutput, tee.ParamValueOutput, tee.ParamValueOutput}
)
