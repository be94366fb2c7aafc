package tacore

import "fmt"

// Wrapf returns nil for a nil err, and otherwise err wrapped with the
// context format and args say ("<context>: <err>"), so that a TA's store
// helpers can pass the store's answer on in one line whether or not it
// failed.
func Wrapf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}
