package channel

import (
	"errors"

	"github.com/fpemu/fpemu/channel/chanwire"
)

func asFormat(err error, fe *chanwire.FormatError) bool {
	var p *chanwire.FormatError
	if errors.As(err, &p) {
		*fe = *p
		return true
	}
	return false
}
