package main

import (
	"strings"
	"testing"
)

// A bad latency profile is a usage error naming what is wrong.
func TestSimRefusesABadLatencyProfile(t *testing.T) {
	for arg, want := range map[string]string{
		"entitlement=300ms":    "unknown area",
		"graph=2h":             "between 0 and 1m0s",
		"graph=120ms,graph=1s": "twice",
		"slow":                 "want a duration",
	} {
		code, _, errs := cli(t, map[string]string{}, "sim", "--latency", arg)
		if code != 2 || !strings.Contains(errs, want) {
			t.Errorf("sim --latency %s: exit %d %q, want 2 and %q", arg, code, errs, want)
		}
	}
}
