//go:build !unix

package adosim

// peakRSS is the most memory the process has held, in bytes, or 0 when
// unknown.
func peakRSS() uint64 { return 0 }
