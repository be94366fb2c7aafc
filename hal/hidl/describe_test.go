package hidl

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDescribe(t *testing.T) {
	acq := func(n int) []Callback {
		cbs := make([]Callback, n)
		for i := range cbs {
			cbs[i] = OnAcquired{AcquiredInfo: FingerprintAcquiredInfo(i)}
		}
		return cbs
	}
	assert.Equal(t, "none", Describe(nil))
	assert.Equal(t, "onError(ERROR_VENDOR, vendorCode=3), onRemoved(fingerId=1, groupId=2, remaining=0)",
		Describe([]Callback{OnError{Error: ErrorVendor, VendorCode: 3}, OnRemoved{FingerID: 1, GroupID: 2}}))

	twelve := Describe(acq(12))
	assert.Equal(t, 12, strings.Count(twelve, "onAcquired("), "twelve are listed whole: %s", twelve)
	assert.NotContains(t, twelve, "more")

	thirteen := acq(13)
	long := Describe(thirteen)
	assert.Equal(t, 10, strings.Count(long, "onAcquired("), "first five and last five: %s", long)
	assert.True(t, strings.HasPrefix(long, thirteen[0].String()+", "), long)
	assert.Contains(t, long, thirteen[4].String()+", … 3 more …, "+thirteen[8].String())
	assert.True(t, strings.HasSuffix(long, ", "+thirteen[12].String()), long)
}
