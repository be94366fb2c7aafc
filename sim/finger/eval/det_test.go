package eval

import (
	"bytes"
	"image/png"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteDET(t *testing.T) {
	res := smallEval(t, 0)
	var buf bytes.Buffer
	require.NoError(t, WriteDET(&buf, res, DETWidth, DETHeight))
	img, err := png.Decode(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, DETWidth, img.Bounds().Dx())
	assert.Equal(t, DETHeight, img.Bounds().Dy())
	assert.Less(t, buf.Len(), 100<<10)

	// the curve, the operating point and the goal lines are drawn
	count := map[[3]uint32]int{}
	for y := 0; y < DETHeight; y++ {
		for x := 0; x < DETWidth; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			count[[3]uint32{r >> 8, g >> 8, b >> 8}]++
		}
	}
	for name, c := range map[string][3]uint32{
		"curve": {uint32(colCurve.R), uint32(colCurve.G), uint32(colCurve.B)},
		"point": {uint32(colPoint.R), uint32(colPoint.G), uint32(colPoint.B)},
		"goal":  {uint32(colGoal.R), uint32(colGoal.G), uint32(colGoal.B)},
		"axes":  {0, 0, 0},
	} {
		assert.Greater(t, count[c], 50, name)
	}

	// a different size is honoured
	buf.Reset()
	require.NoError(t, WriteDET(&buf, res, 400, 330))
	cfg, err := png.DecodeConfig(&buf)
	require.NoError(t, err)
	assert.Equal(t, [2]int{400, 330}, [2]int{cfg.Width, cfg.Height})

	for _, sz := range [][2]int{{0, 600}, {800, 100}, {maxDETSide + 1, 600}} {
		assert.ErrorIs(t, WriteDET(&bytes.Buffer{}, res, sz[0], sz[1]), ErrDETSize)
	}
}

func TestDETMonotone(t *testing.T) {
	det := smallEval(t, 0).DET()
	require.NotEmpty(t, det)
	assert.Equal(t, 1.0, det[0].FAR, "at the lowest score everything is accepted")
	assert.Zero(t, det[0].FRR)
	assert.Zero(t, det[len(det)-1].FAR, "above the highest score nothing is")
	assert.Equal(t, 1.0, det[len(det)-1].FRR)
	for i := 1; i < len(det); i++ {
		assert.Greater(t, det[i].Threshold, det[i-1].Threshold)
		assert.LessOrEqual(t, det[i].FAR, det[i-1].FAR)
		assert.GreaterOrEqual(t, det[i].FRR, det[i-1].FRR)
	}
}
