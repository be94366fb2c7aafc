package tatest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// namedTA borrows its memrefs, names command 1 and blocks on it.
type namedTA struct{}

func (namedTA) OpenSession(context.Context, *tee.Params) (rpc.TASession, error) { return nil, nil }
func (namedTA) BorrowsParams() bool                                             { return true }
func (namedTA) CommandName(cmd uint32) (string, bool)                           { return "ONE", cmd == 1 }
func (namedTA) MayBlock(cmd uint32) bool                                        { return cmd == 1 }

// plainTA declares nothing optional.
type plainTA struct{}

func (plainTA) OpenSession(context.Context, *tee.Params) (rpc.TASession, error) { return nil, nil }

func TestWithParams(t *testing.T) {
	tests := []struct {
		name            string
		ta              rpc.TA
		variant         string
		borrows, blocks bool
		named           string
	}{
		{"borrowed is the TA", namedTA{}, "borrowed", true, true, "ONE"},
		{"owned keeps names and blocking", namedTA{}, "owned", false, true, "ONE"},
		{"owned of a plain TA", plainTA{}, "owned", false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			served := WithParams(tt.ta, tt.variant)
			pb, ok := served.(rpc.ParamBorrower)
			assert.Equal(t, tt.borrows, ok && pb.BorrowsParams())
			bc, ok := served.(rpc.BlockingCommands)
			assert.Equal(t, tt.blocks, ok && bc.MayBlock(1))
			name := ""
			if n, ok := served.(rpc.CommandNamer); ok {
				name, _ = n.CommandName(1)
			}
			assert.Equal(t, tt.named, name)
		})
	}
	assert.Equal(t, []string{"owned", "borrowed"}, ParamVariants)
}
