package export

import (
	"runtime/metrics"
	"syscall"
)

// memory reports the live Go heap and the process's peak resident set so
// far, in MiB, for the debug log after each table.
func memory() (heapMiB, peakRSSMiB float64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		heapMiB = float64(s[0].Value.Uint64()) / (1 << 20)
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		peakRSSMiB = float64(ru.Maxrss) / 1024 // Linux reports KiB
	}
	return heapMiB, peakRSSMiB
}
