package main

import (
	"os"
	"runtime/debug"
	"runtime/pprof"
)

func init() {
	// Keep the Go heap of a long sync well inside a container's memory:
	// above this the garbage collector works harder instead of growing.
	// GOMEMLIMIT, when set, wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(384 << 20)
	}
}

// leanGC has the garbage collector run at percent (GOGC) until the
// returned func is called, unless GOGC is set: the commands that stream a
// lot while holding little (sync, export, review) keep a lower peak RSS
// for a little CPU. Syncs at once may restore it early: harmless.
func leanGC(env *Env, percent int) (restore func()) {
	if env.Getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(percent)
	return func() { debug.SetGCPercent(old) }
}

// startProfile writes a CPU profile to the file named by
// EXPORTER_CPUPROFILE, for diagnosing a slow sync; nil when unset.
func startProfile(env *Env) func() {
	path := env.Getenv("EXPORTER_CPUPROFILE")
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		env.Logger.Warn("cannot write the CPU profile", "err", err)
		return nil
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		env.Logger.Warn("cannot start the CPU profile", "err", err)
		f.Close()
		return nil
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
