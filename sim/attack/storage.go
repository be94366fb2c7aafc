package attack

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	_ "github.com/mattn/go-sqlite3" // the REE's own SQLite, to edit the TA's file

	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/devdir"
)

// fpDBName is the fingerprint TA's database in its data directory
// (docs/protocol.md §6.1, §7.1: DIR/data/fingerprint/fingerprint.db).
const fpDBName = string(tee.RoleFingerprint) + ".db"

// dbFiles are the files of one SQLite database in WAL mode.
var dbFiles = []string{fpDBName, fpDBName + "-wal", fpDBName + "-shm"}

// swapGroups edits the fingerprint TA's database with the REE's own
// SQLite: the template row (gid 0, fidA) moves to group 1 and (gid 1,
// fidB) to group 0, sealed blobs untouched.
func swapGroups(ctx context.Context, dataDir string, fidA, fidB uint32) error {
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dataDir, fpDBName)+"?_busy_timeout=5000")
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := db.ExecContext(ctx, `UPDATE fp_templates SET gid = 1 - gid
		WHERE (gid = 0 AND fid = ?) OR (gid = 1 AND fid = ?)`, int64(fidA), int64(fidB))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 2 {
		return fmt.Errorf("swapped %d rows, want 2 (%v)", n, err)
	}
	return nil
}

// copyFiles copies the database files present in from to to (created),
// removing from to those absent in from: the REE copying or restoring a
// database, WAL included.
func copyFiles(from, to string) error {
	if err := os.MkdirAll(to, 0o700); err != nil {
		return err
	}
	for _, name := range dbFiles {
		src, dst := filepath.Join(from, name), filepath.Join(to, name)
		in, err := os.Open(src)
		if errors.Is(err, os.ErrNotExist) {
			if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err == nil {
			_, err = io.Copy(out, in)
			err = errors.Join(err, out.Close())
		}
		in.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// counterValue reads the value of the fingerprint TA's rollback counter
// (docs/protocol.md §6.6: not secret; only its MAC needs the TA's key, so
// the attacker reads it unauthenticated): the larger of the two slots of a
// version 2 file (4142 bytes, slot A at 0, slot B at 4096), or the one
// record of a version 1 file (45 bytes).
func counterValue(dir string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(devdir.RPMBDir(dir, tee.RoleFingerprint), "counter"))
	if err != nil {
		return 0, err
	}
	const slotB, slotSize = 4096, 46
	switch {
	case len(b) == 45 && string(b[:5]) == "FPMC\x01":
		return binary.BigEndian.Uint64(b[5:13]), nil
	case len(b) == slotB+slotSize:
		var v uint64
		for _, off := range []int{0, slotB} {
			if s := b[off : off+slotSize]; string(s[:5]) == "FPMC\x02" {
				v = max(v, binary.BigEndian.Uint64(s[6:14]))
			}
		}
		return v, nil
	}
	return 0, fmt.Errorf("counter file of %d bytes", len(b))
}

// refusedStart judges a boot that must fail because the fingerprint TA
// refuses its store: it returns the store error the TA logged.
func refusedStart(err error, why *regexp.Regexp) (string, bool) {
	var se *simdev.StartError
	if !errors.As(err, &se) || se.Role != tee.RoleFingerprint {
		return "", false
	}
	m := why.FindString(se.Stderr)
	return m, m != ""
}

var (
	reTampered = regexp.MustCompile(`store: database modified outside the store[^"\n]*`)
	reRollback = regexp.MustCompile(`store: database rolled back[^"\n]*`)
	reUnsealed = regexp.MustCompile(`template \d+/\d+: store: sealed blob does not open`)
)

// enumerate lists the active group's finger ids (ENUMERATE events).
func enumerate(ctx context.Context, fp drive.Fingerprint) ([]uint32, error) {
	if err := fp.Enumerate(ctx); err != nil {
		return nil, err
	}
	var fids []uint32
	for {
		e, err := drive.AwaitEvent(ctx, fp, func(e fpproto.Event) bool { return e.Type == fpproto.MsgTemplateEnumerating })
		if err != nil {
			return nil, err
		}
		if e.Type == fpproto.MsgError {
			return nil, fmt.Errorf("enumerate: %w", drive.EventError(e))
		}
		if e.FingerID != 0 {
			fids = append(fids, e.FingerID)
		}
		if e.Remaining == 0 {
			slices.Sort(fids)
			return fids, nil
		}
	}
}

var storeSwap = attack{
	Info: Info{
		ID:      "store-swap",
		Attack:  "swap sealed template rows between groups 0 and 1 in the TA's SQLite, then authenticate",
		Defence: "rows sealed with their identity as AD, whole-file state digest (protocol §6.3, §6.5) → refused",
		Want:    Rejected,
	},
	run: given(asHAL(simdev.RestartPolicy{}), func(ctx context.Context, r *runner, fx *fixture, t *tally) {
		fidB, err := enrollFinger(ctx, fx.fp, fx.sen, fx.pin, 1, fingerB)
		if !t.must("enroll finger B in group 1", err) {
			return
		}
		if _, err := authenticate(ctx, fx.fp, fx.sen, fingerB, challenge(), 1); !t.must("control: B opens group 1", err) {
			return
		}
		dataDir := devdir.DataDir(r.dir, tee.RoleFingerprint)
		if !t.must("swap the rows (TA running)", swapGroups(ctx, dataDir, fx.fid, fidB)) {
			return
		}
		// B's template now sits in group 0's row: the attacker's finger
		// against the victim's group.
		e, err := authenticate(ctx, fx.fp, fx.sen, fingerB, challenge(), 0)
		if err == nil {
			t.breachf("finger B authenticated into group 0 after the swap (fid %d, HAT of %d bytes)", e.FingerID, len(e.HAT))
		} else {
			t.refused("authenticate B against group 0 (running TA)", err, errUnableToProcess, drive.ErrNoMatch)
		}
		running := describe(err)
		if why := findLog(fx.dev.logs, reUnsealed); why != "" {
			running += " — TA log: " + why
		}
		if !t.must("stop the device", fx.dev.stop()) {
			return
		}
		dev, err := r.boot(ctx, false, simdev.RestartPolicy{})
		if err == nil {
			t.breachf("the fingerprint TA started on a database edited outside the store")
			_ = dev.stop()
			return
		}
		why, ok := refusedStart(err, reTampered)
		if !ok {
			t.brokef("restart: %s", describe(err))
			return
		}
		t.heldf("restart → fingerprint TA refuses to start: %s", why)
		t.summarize("running TA: authenticate → %s; restart: TA refuses (%s)", running, why)
	}),
}

var storeRollback = attack{
	Info: Info{
		ID:      "store-rollback",
		Attack:  "restore an older copy of the template db (+wal/shm), restart the fingerprint TA",
		Defence: "sealed generation vs RPMB-stand-in counter in DIR/rpmb, outside data/ (protocol §6.6-6.7) → TA refuses",
		Want:    Rejected,
	},
	run: given(asHAL(simdev.RestartPolicy{}), func(ctx context.Context, r *runner, fx *fixture, t *tally) {
		dataDir := devdir.DataDir(r.dir, tee.RoleFingerprint)
		older, latest := filepath.Join(r.dir, "copy-older"), filepath.Join(r.dir, "copy-latest")
		if !t.must("copy the database (TA running)", copyFiles(dataDir, older)) {
			return
		}
		ctrOld, err := counterValue(r.dir)
		if !t.must("read the counter", err) {
			return
		}
		fidB, err := enrollFinger(ctx, fx.fp, fx.sen, fx.pin, 0, fingerB)
		if !t.must("enroll finger B", err) {
			return
		}
		if !t.must("stop the device", fx.dev.stop()) {
			return
		}
		ctrNew, err := counterValue(r.dir)
		if !t.must("read the counter", err) {
			return
		}
		if !t.must("save the newest copy", copyFiles(dataDir, latest)) || !t.must("restore the older copy", copyFiles(older, dataDir)) {
			return
		}
		dev, err := r.boot(ctx, false, simdev.RestartPolicy{})
		if err == nil {
			t.breachf("the fingerprint TA opened the copy taken at counter %d although the counter is at %d", ctrOld, ctrNew)
			_ = dev.stop()
			return
		}
		why, ok := refusedStart(err, reRollback)
		if !ok {
			t.brokef("restart on the older copy: %s", describe(err))
			return
		}
		t.heldf("restart on the older copy → fingerprint TA refuses to start: %s", why)

		// Control: the newest copy opens, with both fingers.
		if !t.must("restore the newest copy", copyFiles(latest, dataDir)) {
			return
		}
		dev, err = r.boot(ctx, false, simdev.RestartPolicy{})
		if !t.must("control: boot on the newest copy", err) {
			return
		}
		fp, err := dev.taDriver(ctx)
		if !t.must("fingerprint", err) || !t.must("set active group", fp.SetActiveGroup(ctx, 0, r.storePath())) {
			return
		}
		fids, err := enumerate(ctx, fp)
		if !t.must("enumerate", err) {
			return
		}
		if want := []uint32{min(fx.fid, fidB), max(fx.fid, fidB)}; !slices.Equal(fids, want) {
			t.brokef("control: newest copy enumerates %v, want %v", fids, want)
			return
		}
		t.summarize("copy at counter %d restored with counter at %d → TA refuses (%s); the newest copy opens with both fingers", ctrOld, ctrNew, why)
	}),
}
