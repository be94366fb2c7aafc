package tacore

import "go.uber.org/zap"

// KeyInstalled is the end of every TA's SET_AUTH_TOKEN_KEY handler: err is
// what installing the envelope answered (SetAuthTokenKey, or the TA's own
// wrapper of it). A refusal is logged as a warning, without the envelope,
// and returned as its TEEC result (TEEError); nil stays nil.
func (c *Core) KeyInstalled(err error) error {
	if err != nil {
		c.Log.Warn("auth-token key envelope rejected", zap.Error(err))
	}
	return TEEError(err)
}
