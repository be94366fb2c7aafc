package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
	"github.com/fpemu/fpemu/tee/rpc"
)

func init() { subcommands = append(subcommands, newSensorCmd) }

const sensorExitDoc = `Exit status: 0 success; 1 the sensor refused the request (a sample or fault
it does not accept, a full queue: the TEEC result is in the message);
2 usage error; 4 socket unreachable, serving another TA, or not a TA socket;
5 any other device failure. With --json one JSON object is printed on stdout
also on failure, with "ok": false, "error" (refused, unreachable, wrong_ta,
not_a_ta, device_error) and "message".`

func newSensorCmd() *cobra.Command {
	return newGroup("sensor",
		"Put fingers on a device's virtual sensor; read, fault and reset it",
		`Drive the fingerprint TA's sensor-control endpoint of a running device
(DEVICE_DIR/sock/fingerprint-sensor.sock, docs/protocol.md §9.10): the test
bench's hand on the virtual sensor. What is presented is queued; the TA's
next capture (an enroll or authenticate the HAL started) takes it.

Only the device's owner can reach the socket (0600, SO_PEERCRED): whoever
writes to it places fingers on the sensor.

`+sensorExitDoc,
		newSensorPresentCmd(), newSensorStatusCmd(), newSensorFaultCmd(), newSensorResetCmd())
}

// withSensor opens a session on the sensor-control endpoint and runs fn.
func withSensor(cmd *cobra.Command, tf *targetFlags, fn func(context.Context, sensorproto.Client) error) error {
	path, err := tf.path(device.SensorSocketPath)
	if err != nil {
		return err
	}
	return withTA(cmd, tf.timeout, path, sensorproto.UUID, "sensor", func(ctx context.Context, s *rpc.Session) error {
		return fn(ctx, sensorproto.Client{Invoker: s})
	})
}

// sensorStatus runs prep (when not nil) on the sensor, then reads its
// STATUS and prints it: as JSON, or as text(status).
func sensorStatus(cmd *cobra.Command, tf *targetFlags, asJSON bool,
	prep func(context.Context, sensorproto.Client) error, text func(sensorproto.RemoteStatus) string) error {
	obj := map[string]any{}
	var st sensorproto.RemoteStatus
	err := withSensor(cmd, tf, func(ctx context.Context, sc sensorproto.Client) error {
		if prep != nil {
			if err := prep(ctx, sc); err != nil {
				return err
			}
		}
		var err error
		if st, err = sc.Status(ctx); err != nil {
			return invokeErr(err, kindDevice, "sensor STATUS")
		}
		obj = statusJSON(st)
		return nil
	})
	return outcome(cmd, asJSON, obj, err, func() string { return text(st) })
}

// maxSampleFile bounds a --sample file: the hex of the largest sample with
// generous room for whitespace and comments.
const maxSampleFile = 64 << 10

// readSampleFile reads a sample: the binary encoding (starts with "FPSA"),
// or hex text in which whitespace is ignored and "#" starts a comment to
// the end of the line (the form of sensorproto's testdata).
func readSampleFile(cmd *cobra.Command, path string) ([]byte, error) {
	var r io.Reader = cmd.InOrStdin()
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, usageErrorf("--sample: %v", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxSampleFile+1))
	if err != nil {
		return nil, usageErrorf("--sample %s: %v", path, err)
	}
	if len(b) > maxSampleFile {
		return nil, usageErrorf("--sample %s: more than %d bytes", path, maxSampleFile)
	}
	if bytes.HasPrefix(b, []byte("FPSA")) {
		return b, nil
	}
	var digits strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	raw, err := hex.DecodeString(digits.String())
	if err != nil {
		return nil, usageErrorf("--sample %s: neither a binary sample (FPSA…) nor hex: %v", path, err)
	}
	return raw, nil
}

// parseTouch turns --touch into a placement of f.
func parseTouch(f *finger.Finger, s string) (finger.Placement, error) {
	kind, arg, hasArg := strings.Cut(s, ":")
	n, err := strconv.ParseUint(arg, 0, 64)
	switch {
	case kind == "nominal" && !hasArg:
		return finger.Nominal, nil
	case kind == "enroll" && hasArg && err == nil:
		const touches = 8 // as conform and the demo enroll
		ps, _ := finger.Touches(f, touches, 0)
		p := ps[n%touches]
		p.Noise += n / touches
		return p, nil
	case kind == "probe" && hasArg && err == nil:
		return finger.ProbePlacement(rand.New(rand.NewPCG(f.Seed, n))), nil
	}
	return finger.Placement{}, usageErrorf("--touch %q: want nominal, enroll:K or probe:N", s)
}

func newSensorPresentCmd() *cobra.Command {
	var (
		tf       targetFlags
		seed     uint64
		touch    string
		place    finger.Placement
		sample   string
		noFinger bool
		asJSON   bool
	)
	c := &cobra.Command{
		Use:   "present (--device DIR | --socket PATH) (--seed N [--touch T] [placement flags] | --sample FILE | --no-finger) [--json]",
		Short: "Queue a synthetic finger, a sample file, or a capture with no finger",
		Long: `Queue one capture on the virtual sensor (PRESENT, or NO_FINGER).

--seed N is a synthetic finger (sim/finger: ridge flow and minutiae
deterministic in N), rendered on the default 200x200 px (500 ppi) sensor.
--touch picks how it is placed:

  nominal      centred, clean, full area (default)
  enroll:K     the K-th enrollment touch of the finger (K mod 8: the first
               centred, the others around it, as Android's enrollment UI asks)
  probe:N      an everyday unlock touch drawn from N (offset, rotation,
               pressure, quality, sometimes overhanging an edge)

and --dx, --dy (px), --rotation (degrees), --area (0,1], --pressure [0,1],
--quality [0,1] and --noise override the touch's fields. The same seed and
placement always give the same sample; only the sample crosses to the TA.

--sample FILE ("-" for stdin) presents a sample as it is: the binary wire
encoding (docs/protocol.md §9.10, starting "FPSA") or that as hex, where
whitespace is ignored and "#" starts a comment. The TA checks it: a malformed
sample is exit 1 (TEEC_ERROR_BAD_FORMAT).

--no-finger queues a capture that times out (ERROR_TIMEOUT at the HAL).

--json prints {"ok":true,"presented":"finger"|"sample"|"no_finger",
"minutiae":N,"width":W,"height":H,"seed":N,"placement":{…},"queued":N}.

` + sensorExitDoc,
		Example: `  fpemu sensor present --device /tmp/dev --seed 7 --touch enroll:0
  fpemu sensor present --device /tmp/dev --seed 7 --touch probe:1 --quality 0.6 --json
  fpemu sensor present --device /tmp/dev --sample finger.hex`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fl := cmd.Flags()
			obj := map[string]any{}
			var raw []byte
			switch {
			case noFinger:
				obj["presented"] = "no_finger"
			case sample != "":
				b, err := readSampleFile(cmd, sample)
				if err != nil {
					return err
				}
				raw = b
				obj["presented"] = "sample"
				obj["bytes"] = len(b)
				if s, err := sensorproto.ParseSample(b); err == nil {
					obj["minutiae"], obj["width"], obj["height"] = len(s.Minutiae), s.Width, s.Height
				}
			default:
				f := finger.New(seed)
				p, err := parseTouch(f, touch)
				if err != nil {
					return err
				}
				for name, dst := range map[string]*float64{"dx": &p.DX, "dy": &p.DY, "rotation": &p.Rotation,
					"area": &p.Area, "pressure": &p.Pressure, "quality": &p.Quality} {
					if fl.Changed(name) {
						v, _ := fl.GetFloat64(name)
						*dst = v
					}
				}
				if fl.Changed("noise") {
					p.Noise = place.Noise
				}
				s, err := f.Impress(finger.DefaultSensor, p)
				if err != nil {
					return usageErrorf("placement: %v", err)
				}
				if raw, err = sensorproto.MarshalSample(s); err != nil {
					return fmt.Errorf("sample of finger %d: %w", seed, err)
				}
				obj["presented"], obj["seed"], obj["placement"] = "finger", seed, p
				obj["minutiae"], obj["width"], obj["height"] = len(s.Minutiae), s.Width, s.Height
			}
			err := withSensor(cmd, &tf, func(ctx context.Context, sc sensorproto.Client) error {
				var err error
				if noFinger {
					err = sc.NoFinger(ctx)
				} else {
					err = sc.PresentRaw(ctx, raw)
				}
				if err != nil {
					return invokeErr(err, kindRefused, "sensor %s", map[bool]string{true: "NO_FINGER", false: "PRESENT"}[noFinger])
				}
				st, err := sc.Status(ctx)
				if err != nil {
					return invokeErr(err, kindDevice, "sensor STATUS")
				}
				obj["queued"] = st.Queued
				return nil
			})
			return outcome(cmd, asJSON, obj, err, func() string {
				switch obj["presented"] {
				case "no_finger":
					return fmt.Sprintf("queued a capture with no finger (queued %d)", obj["queued"])
				case "finger":
					return fmt.Sprintf("presented finger %d, touch %s: %d minutiae on %dx%d (queued %d)",
						seed, touch, obj["minutiae"], obj["width"], obj["height"], obj["queued"])
				}
				return fmt.Sprintf("presented sample %s: %d bytes (queued %d)", sample, obj["bytes"], obj["queued"])
			})
		},
	}
	tf.register(c, sensorproto.SocketName+".sock")
	f := c.Flags()
	f.Uint64Var(&seed, "seed", 0, "synthetic finger seed (sim/finger)")
	f.StringVar(&touch, "touch", "nominal", "placement: nominal, enroll:K or probe:N")
	f.Float64Var(&place.DX, "dx", 0, "horizontal offset of the print centre, px")
	f.Float64Var(&place.DY, "dy", 0, "vertical offset of the print centre, px")
	f.Float64Var(&place.Rotation, "rotation", 0, "rotation, degrees")
	f.Float64Var(&place.Area, "area", 1, "fraction of the window covered, (0,1]")
	f.Float64Var(&place.Pressure, "pressure", 0.5, "pressure, [0,1]")
	f.Float64Var(&place.Quality, "quality", 1, "quality, [0,1] (1 a clean dry finger)")
	f.Uint64Var(&place.Noise, "noise", 0, "seed of the impression's noise")
	f.StringVar(&sample, "sample", "", `sample file (binary or hex), "-" for stdin`)
	f.BoolVar(&noFinger, "no-finger", false, "queue a capture that times out")
	f.BoolVar(&asJSON, "json", false, "print one JSON object (also on failure)")
	c.MarkFlagsMutuallyExclusive("seed", "sample", "no-finger")
	c.MarkFlagsOneRequired("seed", "sample", "no-finger")
	for _, p := range []string{"touch", "dx", "dy", "rotation", "area", "pressure", "quality", "noise"} {
		c.MarkFlagsMutuallyExclusive(p, "sample")
		c.MarkFlagsMutuallyExclusive(p, "no-finger")
	}
	return c
}

// statusJSON is STATUS's answer as printed.
func statusJSON(st sensorproto.RemoteStatus) map[string]any {
	return map[string]any{
		"queued":           st.Queued,
		"waiting":          st.Waiting,
		"captures":         st.Captures,
		"latency_ms":       st.Latency.Milliseconds(),
		"fault_error":      st.FaultError,
		"fault_error_name": fpproto.Error(st.FaultError).String(),
	}
}

func newSensorStatusCmd() *cobra.Command {
	var (
		tf     targetFlags
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "status (--device DIR | --socket PATH) [--json]",
		Short: "Print the sensor's queue, waiting captures, capture count, latency and sticky fault",
		Long: `Read the virtual sensor's state (STATUS, docs/protocol.md §9.10):

  queued       items presented and not yet captured
  waiting      captures blocked on an empty queue (the TA waits for a finger)
  captures     captures completed since the TA started
  latency_ms   the capture latency
  fault_error  the sticky fault's FingerprintError, 0 (ERROR_NO_ERROR) if none

--json prints them as one JSON object with "ok" and "fault_error_name".

` + sensorExitDoc,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return sensorStatus(cmd, &tf, asJSON, nil, func(st sensorproto.RemoteStatus) string {
				return fmt.Sprintf("queued %d\nwaiting %d\ncaptures %d\nlatency_ms %d\nfault_error %d (%v)",
					st.Queued, st.Waiting, st.Captures, st.Latency.Milliseconds(), st.FaultError, fpproto.Error(st.FaultError))
			})
		},
	}
	tf.register(c, sensorproto.SocketName+".sock")
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object (also on failure)")
	return c
}

// parseFaultCode parses a FingerprintError by number or AOSP name, with or
// without the ERROR_ prefix, in any case, "-" or "_" between words.
func parseFaultCode(s string) (fpproto.Error, error) {
	if n, err := strconv.ParseInt(s, 0, 32); err == nil {
		return fpproto.Error(n), nil
	}
	name := strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
	name = strings.TrimPrefix(name, "ERROR_")
	for e := fpproto.ErrorHWUnavailable; e <= fpproto.ErrorLockoutPermanent; e++ {
		if e.String() == "ERROR_"+name {
			return e, nil
		}
	}
	return 0, usageErrorf("fault %q: want a FingerprintError name (hw-unavailable, unable-to-process, timeout, vendor) or number", s)
}

func newSensorFaultCmd() *cobra.Command {
	var (
		tf             targetFlags
		vendor         int32
		sticky, clearF bool
		asJSON         bool
	)
	c := &cobra.Command{
		Use:   "fault (--device DIR | --socket PATH) (ERROR [--vendor N] [--sticky] | --clear) [--json]",
		Short: "Make the next capture (or, --sticky, every capture) fail; --clear ends a sticky fault",
		Long: `Inject a sensor fault (FAULT, SET_FAULT, docs/protocol.md §9.10). ERROR is a
HIDL 2.1 FingerprintError by name or number; the sensor accepts the errors a
sensor can cause: hw-unavailable (1), unable-to-process (2), timeout (3) and
vendor (8, with --vendor CODE: ERROR_VENDOR and the vendor code at the HAL).
Others are refused by the TA (exit 1).

Without --sticky the fault is queued like a finger and fails one capture; with
--sticky every capture fails until "fault --clear" or "reset".

` + sensorExitDoc,
		Example: `  fpemu sensor fault --device /tmp/dev hw-unavailable
  fpemu sensor fault --device /tmp/dev vendor --vendor 42 --sticky
  fpemu sensor fault --device /tmp/dev --clear`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var code fpproto.Error
			switch {
			case clearF && len(args) > 0:
				return usageErrorf("--clear takes no ERROR")
			case clearF && (sticky || cmd.Flags().Changed("vendor")):
				return usageErrorf("--clear takes no --sticky or --vendor")
			case !clearF && len(args) == 0:
				return usageErrorf("give an ERROR (hw-unavailable, unable-to-process, timeout, vendor) or --clear")
			case !clearF:
				var err error
				if code, err = parseFaultCode(args[0]); err != nil {
					return err
				}
			}
			obj := map[string]any{"fault_error": int32(code), "fault_error_name": code.String(), "vendor": vendor, "sticky": sticky || clearF, "cleared": clearF}
			err := withSensor(cmd, &tf, func(ctx context.Context, sc sensorproto.Client) error {
				var err error
				op := "FAULT"
				switch {
				case clearF:
					op, err = "SET_FAULT", sc.ClearFault(ctx)
				case sticky:
					op, err = "SET_FAULT", sc.SetFault(ctx, int32(code), vendor)
				default:
					err = sc.Fault(ctx, int32(code), vendor)
				}
				if err != nil {
					return invokeErr(err, kindRefused, "sensor %s", op)
				}
				return nil
			})
			return outcome(cmd, asJSON, obj, err, func() string {
				switch {
				case clearF:
					return "sticky fault cleared"
				case sticky:
					return fmt.Sprintf("every capture fails with %v (vendor %d) until cleared", code, vendor)
				}
				return fmt.Sprintf("the next capture fails with %v (vendor %d)", code, vendor)
			})
		},
	}
	tf.register(c, sensorproto.SocketName+".sock")
	f := c.Flags()
	f.Int32Var(&vendor, "vendor", 0, "vendor code (with vendor)")
	f.BoolVar(&sticky, "sticky", false, "fail every capture until cleared")
	f.BoolVar(&clearF, "clear", false, "end a sticky fault")
	f.BoolVar(&asJSON, "json", false, "print one JSON object (also on failure)")
	return c
}

func newSensorResetCmd() *cobra.Command {
	var (
		tf     targetFlags
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "reset (--device DIR | --socket PATH) [--json]",
		Short: "Empty the sensor's queue and clear its fault and latency",
		Long: `Reset the virtual sensor (RESET, docs/protocol.md §9.10): drop every queued
item, clear a sticky fault and the latency; captures in progress keep
waiting for the next item. Prints the status after the reset (as "status").

` + sensorExitDoc,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reset := func(ctx context.Context, sc sensorproto.Client) error {
				if err := sc.Reset(ctx); err != nil {
					return invokeErr(err, kindRefused, "sensor RESET")
				}
				return nil
			}
			return sensorStatus(cmd, &tf, asJSON, reset, func(st sensorproto.RemoteStatus) string {
				return fmt.Sprintf("reset (queued %d, waiting %d, captures %d)", st.Queued, st.Waiting, st.Captures)
			})
		},
	}
	tf.register(c, sensorproto.SocketName+".sock")
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object (also on failure)")
	return c
}
