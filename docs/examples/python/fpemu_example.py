#!/usr/bin/env python3
"""Drive an fpemu device from Python with the fpemu CLI helpers only.

No CA->TA framing, no Go: the script starts `fpemu device up`, then

  1. enrolls a lock-screen password in Gatekeeper   (fpemu gatekeeper enroll)
  2. verifies it for a challenge -> a PASSWORD HAT  (fpemu gatekeeper verify)
  3. decodes the HAT and checks its fields          (fpemu token decode)
  4. shows a wrong password and an unreachable socket as the exit statuses
     and JSON "error" kinds the helpers document
  5. puts a synthetic finger on the sensor, injects a fault, reads the
     sensor's status and resets it                  (fpemu sensor ...)

and stops the device (SIGINT, then SIGKILL by pid if it does not exit),
also when a step fails or the script is interrupted.

The password goes to the helpers on stdin, never in argv or the
environment. Standard library only (Python 3.8+).

    python3 fpemu_example.py [--fpemu PATH] [--dir DEVICE_DIR]

Exit status 0 if every step behaved as documented, 1 otherwise.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

# Exit statuses of `fpemu gatekeeper` and `fpemu sensor` (fpemu gatekeeper --help).
EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_THROTTLED, EXIT_UNREACHABLE, EXIT_DEVICE = 0, 1, 2, 3, 4, 5


class StepFailed(Exception):
    pass


class Fpemu:
    """Runs fpemu subcommands and decodes their --json output."""

    def __init__(self, binary):
        self.binary = binary

    def run(self, *args, stdin=b"", timeout=30):
        """Returns (exit status, stdout text, stderr text)."""
        p = subprocess.run([self.binary, *args], input=stdin, capture_output=True, timeout=timeout)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def json(self, *args, stdin=b"", want=EXIT_OK):
        """Runs a helper with --json; requires exit status `want`; returns the object."""
        code, out, err = self.run(*args, "--json", stdin=stdin)
        if code != want:
            raise StepFailed("fpemu %s: exit %d, want %d: %s" % (" ".join(args[:2]), code, want, err.strip()))
        return json.loads(out)


class Device:
    """`fpemu device up --dir DIR --json` as a context manager."""

    def __init__(self, fpemu, directory, log):
        self.fpemu, self.dir, self.log = fpemu, directory, log
        self.proc = None
        self.info = None

    def __enter__(self):
        self.proc = subprocess.Popen(
            [self.fpemu.binary, "device", "up", "--dir", self.dir, "--json"],
            stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL)
        line = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(60)
        if not line or not line[0]:
            self.__exit__(None, None, None)
            raise StepFailed("device up printed no JSON line within 60 s (see its log)")
        self.info = json.loads(line[0])
        print("device up: pid=%d hal pid=%d, TAs %s" % (
            self.proc.pid, self.info["hal"]["pid"],
            ", ".join("%s pid=%d" % (ta["role"], ta["pid"]) for ta in self.info["tas"])))
        return self

    def __exit__(self, *exc):
        if self.proc is None or self.proc.poll() is not None:
            return False
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(20)
            print("device down: exit %d" % code)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # by pid: only the process this script started
            self.proc.wait()
            print("device down: killed after 20 s")
        self.proc.stdout.close()
        return False


def check(cond, what):
    if not cond:
        raise StepFailed(what)
    print("ok   " + what)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fpemu", default=shutil.which("fpemu") or "fpemu", help="the fpemu binary")
    ap.add_argument("--dir", help="device directory (default: a new temporary one, removed at the end)")
    args = ap.parse_args()
    fp = Fpemu(args.fpemu)

    tmp = None
    directory = args.dir
    if directory is None:
        tmp = tempfile.mkdtemp(prefix="fpx")  # short: Unix socket paths are limited to 108 bytes
        directory = os.path.join(tmp, "dev")
    # SIGTERM ends the script like Ctrl-C does: through Device.__exit__.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    log = tempfile.TemporaryFile()  # the device's stderr (JSON logs)
    try:
        with Device(fp, directory, log):
            steps(fp, directory)
    except (StepFailed, subprocess.TimeoutExpired, KeyError, ValueError) as e:
        print("FAIL " + str(e))
        log.seek(0)
        sys.stderr.write(log.read()[-4000:].decode(errors="replace"))
        return 1
    finally:
        log.close()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print("example: every step behaved as documented")
    return 0


def steps(fp, directory):
    dev = ["--device", directory]
    pin = b"1234\n"  # one password a line, on stdin

    # 1. Enroll: the 58-byte password handle and the secure user id (SID).
    enrolled = fp.json("gatekeeper", "enroll", *dev, "--uid", "10", stdin=pin)
    handle, sid = enrolled["handle"], enrolled["sid"]
    check(len(handle) == 116 and sid != 0, "gatekeeper enroll: handle of 58 bytes, SID %d" % sid)

    # 2. Verify for a challenge: Gatekeeper's PASSWORD HAT for it.
    challenge = 0xC0FFEE
    verified = fp.json("gatekeeper", "verify", *dev, "--uid", "10", "--handle", handle,
                       "--challenge", str(challenge), stdin=pin)
    hat = verified["hat"]
    check(len(hat) == 138, "gatekeeper verify: a 69-byte hw_auth_token_t")

    # 3. Decode it with fpemu token decode (JSON, integers exact).
    code, out, err = fp.run("token", "decode", hat)
    token = json.loads(out) if code == 0 else {}
    check(code == 0 and token["authenticator_type_name"] == "PASSWORD" and token["user_id"] == sid
          and token["challenge"] == challenge,
          "token decode: PASSWORD, user_id = SID, challenge = %#x" % challenge)
    check(verified["token"] == token, "verify --json carries the same decoded token")

    # 4. Failures are exit statuses and JSON "error" kinds.
    wrong = fp.json("gatekeeper", "verify", *dev, "--uid", "10", "--handle", handle,
                    stdin=b"0000\n", want=EXIT_REJECTED)
    check(wrong["ok"] is False and wrong["error"] == "wrong_password", "wrong password: exit 1, wrong_password")
    gone = fp.json("gatekeeper", "enroll", "--socket", os.path.join(directory, "sock", "nope.sock"),
                   stdin=pin, want=EXIT_UNREACHABLE)
    check(gone["error"] == "unreachable", "missing socket: exit 4, unreachable")
    code, _, err = fp.run("gatekeeper", "enrol", *dev, stdin=pin)
    check(code == EXIT_USAGE and "unknown command" in err, "misspelt command: exit 2")

    # 5. The sensor: a synthetic finger, a fault, status, reset.
    for k in range(2):
        touch = fp.json("sensor", "present", *dev, "--seed", "7", "--touch", "enroll:%d" % k)
        check(touch["presented"] == "finger" and touch["minutiae"] > 0,
              "sensor present: finger 7, enroll touch %d, %d minutiae" % (k, touch["minutiae"]))
    fp.json("sensor", "fault", *dev, "hw-unavailable")
    status = fp.json("sensor", "status", *dev)
    check(status["queued"] == 3 and status["waiting"] == 0, "sensor status: 3 captures queued, none waiting")
    fp.json("sensor", "fault", *dev, "vendor", "--vendor", "7", "--sticky")
    status = fp.json("sensor", "status", *dev)
    check(status["fault_error_name"] == "ERROR_VENDOR", "sensor fault --sticky: every capture fails with ERROR_VENDOR")
    status = fp.json("sensor", "reset", *dev)
    check(status["queued"] == 0 and status["fault_error"] == 0, "sensor reset: queue empty, fault cleared")


if __name__ == "__main__":
    sys.exit(main())
