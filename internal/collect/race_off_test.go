//go:build !race

package collect

// raceEnabled reports whether the tests run under the race detector.
const raceEnabled = false
