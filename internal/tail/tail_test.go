package tail

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fpemu/fpemu/internal/testkit"
)

func TestBuffer(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{"under", 8, []string{"ab", "cd"}, "abcd"},
		{"exactly", 4, []string{"ab", "cd"}, "abcd"},
		{"over in one write", 3, []string{"abcdef"}, "def"},
		{"over across writes", 5, []string{"abc", "def", "g"}, "cdefg"},
		{"keeps nothing", 0, []string{"abc"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var copied strings.Builder
			b := &Buffer{Max: tt.max, Copy: &copied}
			for _, w := range tt.writes {
				n, err := b.Write([]byte(w))
				assert.NoError(t, err)
				assert.Equal(t, len(w), n)
			}
			assert.Equal(t, tt.want, b.String())
			assert.Equal(t, strings.Join(tt.writes, ""), copied.String(), "Copy gets everything")
			assert.Equal(t, int64(len(copied.String())), b.Written())
		})
	}
}

func TestSince(t *testing.T) {
	b := New(4)
	_, _ = b.Write([]byte("ab"))
	from := b.Written()
	_, _ = b.Write([]byte("cd"))
	got, total := b.Since(from)
	assert.Equal(t, "cd", string(got))
	assert.Equal(t, int64(4), total)
	_, _ = b.Write([]byte("efgh"))
	got, _ = b.Since(from)
	assert.Equal(t, "efgh", string(got), "as much as the buffer still holds")
	got, _ = b.Since(total + 100)
	assert.Empty(t, got, "a mark past the end")
}

func TestConcurrentWrites(t *testing.T) {
	b := New(64)
	testkit.WriteConcurrently(b, 8, 100, []byte("x"), func() { _, _ = b.Since(b.Written() - 8) })
	assert.Equal(t, int64(800), b.Written())
	assert.Len(t, b.String(), 64)
}
