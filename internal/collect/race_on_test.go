//go:build race

package collect

// raceEnabled reports whether the tests run under the race detector, under
// which every sync costs about ten times as much (SQLite is transpiled C).
const raceEnabled = true
