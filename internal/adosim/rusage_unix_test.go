//go:build unix

package adosim

import (
	"runtime"
	"syscall"
)

// peakRSS is the most memory the process has held, in bytes, or 0 when
// unknown.
func peakRSS() uint64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return uint64(ru.Maxrss) // bytes
	}
	return uint64(ru.Maxrss) * 1024 // KiB elsewhere
}
