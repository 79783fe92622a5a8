package main

import (
	osexec "os/exec"
	"strings"
	"testing"
)

// make demo says, before the first build, that it takes minutes; builds
// bin/exporter with the same command as make build (so that neither
// rebuilds for the other); and runs that binary, so that the commands the
// demo suggests work at once (issue 19, item 14). make -n prints the
// commands without running them (a recursive $(MAKE) is followed).
func TestMakeDemoBuildsTheBinaryOnce(t *testing.T) {
	if _, err := osexec.LookPath("make"); err != nil {
		t.Skip("no make here")
	}
	dry := func(target string) []string {
		t.Helper()
		cmd := osexec.Command("make", "-n", "--no-print-directory", target)
		cmd.Dir = "../.."
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make -n %s: %v\n%s", target, err, out)
		}
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	build := dry("build")
	demo := dry("demo")
	if len(build) != 1 || !strings.Contains(build[0], "-o bin/exporter ./cmd/exporter") {
		t.Fatalf("make build: %q", build)
	}
	say, buildAt, runAt := -1, -1, -1
	for i, line := range demo {
		switch {
		case strings.Contains(line, "takes a few minutes"):
			say = i
		case line == build[0]:
			buildAt = i
		case strings.TrimSpace(line) == "bin/exporter demo":
			runAt = i
		}
	}
	if say < 0 || buildAt < 0 || runAt < 0 || !(say < buildAt && buildAt < runAt) {
		t.Errorf("make demo runs, in order:\n%s\nwant: a word that the first build takes minutes, then make build's own command (%s), then bin/exporter demo", strings.Join(demo, "\n"), build[0])
	}
	for _, line := range demo {
		if strings.Contains(line, "go run") {
			t.Errorf("make demo compiles with go run (other flags than make build): %s", line)
		}
	}
}
