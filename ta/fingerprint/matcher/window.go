package matcher

import "math"

// placedWindow is a Window with its rotation precomputed.
type placedWindow struct {
	x, y, cos, sin, w, h float64
}

func placeWindows(ws []Window) []placedWindow {
	out := make([]placedWindow, len(ws))
	for i, w := range ws {
		s, c := math.Sincos(w.Angle)
		out[i] = placedWindow{x: w.X, y: w.Y, cos: c, sin: s, w: float64(w.Width), h: float64(w.Height)}
	}
	return out
}

// contains reports whether template point (x, y) lies inside the window.
func (w *placedWindow) contains(x, y float64) bool {
	x, y = x-w.x, y-w.y
	u, v := w.cos*x+w.sin*y, -w.sin*x+w.cos*y
	return u >= 0 && u < w.w && v >= 0 && v < w.h
}
