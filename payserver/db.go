package payserver

import (
	"context"
	"fmt"
	"strings"

	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/payserver/store/postgres"
	"github.com/fpemu/fpemu/payserver/store/sqlite"
)

// OpenStore opens the store a --db URL names: sqlite:PATH (the default
// backend, a plain file path) or postgres://… / postgresql://… (a pgx
// connection URL; its password is never logged or put in an error).
func OpenStore(ctx context.Context, url string, opts store.Options) (store.Store, error) {
	switch {
	case strings.HasPrefix(url, "sqlite:"):
		return sqlite.Open(ctx, strings.TrimPrefix(url, "sqlite:"), opts)
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return postgres.Open(ctx, postgres.Config{DSN: url}, opts)
	}
	scheme, _, _ := strings.Cut(url, ":")
	if len(scheme) > 16 {
		scheme = scheme[:16]
	}
	return nil, fmt.Errorf("%w: --db %q…: want sqlite:PATH or postgres://…", store.ErrInvalid, scheme)
}
