//go:build race

package tokens

// raceEnabled: under -race sync.Pool drops items at random, so allocation
// counts are meaningless.
const raceEnabled = true
