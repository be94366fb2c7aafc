package attack

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable writes the report as a table, one row per attack — what the
// REE did, the defence that must stop it, what the device did, the verdict
// — then, for every attack whose defence did not hold, its findings, and a
// summary line.
func WriteTable(w io.Writer, rep *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tATTACK\tEXPECTED DEFENCE\tOBSERVED\tRESULT")
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, oneLine(r.Attack), oneLine(r.Defence), oneLine(r.Observed), r.Verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	failed := rep.Failed()
	for _, r := range failed {
		fmt.Fprintf(w, "\n%s: %s\n", r.ID, r.Verdict)
		for _, f := range r.Findings {
			fmt.Fprintf(w, "  - %s\n", oneLine(f))
		}
	}
	_, err := fmt.Fprintln(w, "\n"+Summary(rep))
	return err
}

// Summary is one line: how many attacks ran and whether every defence
// held, naming those that did not.
func Summary(rep *Report) string {
	var d time.Duration
	counts := map[Verdict]int{}
	for _, r := range rep.Results {
		d += r.Duration
		counts[r.Verdict]++
	}
	failed := rep.Failed()
	if len(failed) == 0 && len(rep.Results) > 0 {
		return fmt.Sprintf("%s: %d rejected, %d survived — every defence held (%.1f s)",
			plural(len(rep.Results), "attack"), counts[Rejected], counts[Survived], d.Seconds())
	}
	ids := make([]string, len(failed))
	for i, r := range failed {
		ids[i] = fmt.Sprintf("%s (%s)", r.ID, r.Verdict)
	}
	return fmt.Sprintf("%d of %s did not hold: %s", len(failed), plural(len(rep.Results), "defence"), strings.Join(ids, ", "))
}

// WriteJSON writes one result as one JSON object on its own line.
func WriteJSON(w io.Writer, r Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
