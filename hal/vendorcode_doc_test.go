package hal

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
)

// TestVendorCodeTableMatchesCode: docs/protocol.md §10.4.1 lists exactly
// the codes fpproto.Reason.VendorCode produces, each with the reason's
// name.
func TestVendorCodeTableMatchesCode(t *testing.T) {
	section := testkit.DocSection(t, "docs/protocol.md", "#### 10.4.1 Vendor codes of refusals", "")
	row := regexp.MustCompile("(?m)^\\| (\\d+) \\| ([^|]+) \\| [^|]+ \\|$")
	got := map[int32]string{}
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		n, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		got[int32(n)] = strings.TrimSpace(m[2])
	}
	want := map[int32]string{}
	for _, r := range fpproto.Reasons() {
		want[r.VendorCode()] = r.String()
	}
	require.Equal(t, want, got)
	require.Zero(t, fpproto.ReasonNone.VendorCode())
	require.Zero(t, fpproto.Reason(1000).VendorCode(), "an undefined reason is no code")
}
