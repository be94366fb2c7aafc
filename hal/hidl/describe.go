package hidl

import (
	"fmt"
	"strings"
)

// Describe lists callbacks compactly, in order, for a failure message: the
// first and last five of a list longer than twelve, the middle counted;
// "none" for an empty list.
func Describe(cbs []Callback) string {
	if len(cbs) == 0 {
		return "none"
	}
	var parts []string
	for i, cb := range cbs {
		if len(cbs) > 12 && i >= 5 && i < len(cbs)-5 {
			if i == 5 {
				parts = append(parts, fmt.Sprintf("… %d more …", len(cbs)-10))
			}
			continue
		}
		parts = append(parts, cb.String())
	}
	return strings.Join(parts, ", ")
}
