//go:build race

package adosim

// raceEnabled reports whether the tests run under the race detector, which
// makes generating the large preset several times slower.
const raceEnabled = true
