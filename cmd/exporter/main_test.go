package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

func init() {
	// Test-only commands reach the parts of run that version cannot:
	// error kinds, exit codes and signals.
	commands = append(commands, newTestFailCmd, newTestSignalCmd)
}

func newTestFailCmd() *Command {
	return &Command{
		Name:    "test-fail",
		Summary: "fail in the way named by the argument (tests only)",
		Usage:   "Usage: exporter test-fail plain|wrapped-usage|code|silent",
		Run: func(ctx context.Context, env *Env, args []string) error {
			env.Logger.Info("failing on purpose", "mode", args[0])
			switch args[0] {
			case "plain":
				return errors.New("boom")
			case "wrapped-usage":
				return fmt.Errorf("reading decisions: %w", usageErrorf("no such column %q", "Decision"))
			case "code":
				return exitCode(3, errors.New("differences found"))
			case "silent":
				return exitCode(1, nil)
			}
			return nil
		},
	}
}

func newTestSignalCmd() *Command {
	return &Command{
		Name:    "test-signal",
		Summary: "send SIGTERM to itself and wait for the context to end (tests only)",
		Usage:   "Usage: exporter test-signal",
		Run: func(ctx context.Context, env *Env, args []string) error {
			p, err := os.FindProcess(os.Getpid())
			if err != nil {
				return err
			}
			if err := p.Signal(syscall.SIGTERM); err != nil {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Second):
				return errors.New("context not canceled by SIGTERM")
			}
		},
	}
}

type result struct {
	code           int
	stdout, stderr string
}

// exec runs the exporter in-process with the given environment variables.
func exec(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := &Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }}
	code := run(args, env)
	return result{code, stdout.String(), stderr.String()}
}

func TestRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range allCommands() {
		if c.Name == "" || seen[c.Name] {
			t.Errorf("command name %q empty or registered twice", c.Name)
		}
		seen[c.Name] = true
		if c.Summary == "" || strings.Contains(c.Summary, "\n") {
			t.Errorf("%s: Summary must be one non-empty line, got %q", c.Name, c.Summary)
		}
		if want := "Usage: exporter " + c.Name; !strings.HasPrefix(strings.TrimSpace(c.Usage), want) {
			t.Errorf("%s: Usage must start with %q", c.Name, want)
		}
		if c.Run == nil {
			t.Errorf("%s: Run is nil", c.Name)
		}
	}
}

func TestTopHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"--log-level", "debug", "--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := exec(t, nil, args...)
			if r.code != 0 {
				t.Fatalf("exit %d, want 0; stderr:\n%s", r.code, r.stderr)
			}
			for _, c := range allCommands() {
				if !strings.Contains(r.stdout, c.Name) || !strings.Contains(r.stdout, c.Summary) {
					t.Errorf("help does not list %s with its summary %q", c.Name, c.Summary)
				}
			}
			for _, want := range []string{"--log-format text|json", "--log-level debug|info|warn|error", "EXPORTER_LOG_FORMAT", "exporter help <command>", "Exit codes", "  2   bad usage or configuration"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("help does not mention %q", want)
				}
			}
			if !strings.HasSuffix(strings.TrimSpace(r.stdout), "for more about a command.") {
				t.Errorf("help does not end with the pointer to 'exporter help <command>':\n%s", r.stdout)
			}
		})
	}
}

// The help of the commands people script says what their exit codes
// mean (issue 19, item 10).
func TestCommandHelpGivesExitCodes(t *testing.T) {
	for _, name := range []string{"show", "runs", "export", "schedule", "demo", "run"} {
		r := exec(t, nil, "help", name)
		if r.code != 0 || !strings.Contains(r.stdout, "Exit codes") || !strings.Contains(r.stdout, "2 bad") && !strings.Contains(r.stdout, "2   bad") {
			t.Errorf("help %s gives no exit codes:\n%s", name, r.stdout)
		}
	}
}

func TestNoCommandPrintsHelpAndExits2(t *testing.T) {
	r := exec(t, nil)
	if r.code != 2 || !strings.Contains(r.stderr, "Commands:") || r.stdout != "" {
		t.Errorf("got exit %d, stdout %q, stderr %q; want exit 2 and help on stderr", r.code, r.stdout, r.stderr)
	}
}

func TestCommandHelp(t *testing.T) {
	for _, args := range [][]string{{"help", "version"}, {"version", "--help"}, {"version", "-h"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := exec(t, nil, args...)
			if r.code != 0 {
				t.Fatalf("exit %d, want 0; stderr:\n%s", r.code, r.stderr)
			}
			for _, want := range []string{"Usage: exporter version", "Examples:", "--short", "print only the version"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("help for version does not mention %q:\n%s", want, r.stdout)
				}
			}
			if strings.Contains(r.stdout, "exporter dev") {
				t.Error("asking for help ran the command")
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		args []string
		want string // first line of stderr
		hint string // second line of stderr
	}{
		{"unknown command", nil, []string{"nope"}, `exporter: unknown command "nope"`, "run 'exporter --help' for usage"},
		{"unknown global flag", nil, []string{"--nope", "version"}, "exporter: flag provided but not defined: -nope", "run 'exporter --help' for usage"},
		{"bad log format", nil, []string{"--log-format", "xml", "version"}, `exporter: invalid value "xml" for flag -log-format: want one of text, json`, "run 'exporter --help' for usage"},
		{"bad log level", nil, []string{"--log-level=loud", "version"}, `exporter: invalid value "loud" for flag -log-level: want one of debug, info, warn, error`, "run 'exporter --help' for usage"},
		{"bad log format from env", map[string]string{"EXPORTER_LOG_FORMAT": "xml"}, []string{"version"}, `exporter: invalid EXPORTER_LOG_FORMAT "xml": want one of text, json`, "run 'exporter --help' for usage"},
		{"unknown command flag", nil, []string{"version", "--nope"}, "exporter version: flag provided but not defined: -nope", "run 'exporter help version' for usage"},
		{"unexpected argument", nil, []string{"version", "extra"}, `exporter version: unexpected argument "extra"`, "run 'exporter help version' for usage"},
		{"help for unknown command", nil, []string{"help", "nope"}, `exporter help: unknown command "nope"`, "run 'exporter --help' for usage"},
		{"wrapped usage error", nil, []string{"--log-level", "error", "test-fail", "wrapped-usage"}, `exporter test-fail: reading decisions: no such column "Decision"`, "run 'exporter help test-fail' for usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := exec(t, tt.vars, tt.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2", r.code)
			}
			if want := tt.want + "\n" + tt.hint + "\n"; r.stderr != want {
				t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
}

func TestCommandErrors(t *testing.T) {
	tests := []struct {
		mode, stderr string
		code         int
	}{
		{"plain", "exporter: boom\n", 1},
		{"code", "exporter: differences found\n", 3},
		{"silent", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			r := exec(t, nil, "--log-level", "error", "test-fail", tt.mode)
			if r.code != tt.code || r.stderr != tt.stderr {
				t.Errorf("got exit %d, stderr %q; want exit %d, stderr %q", r.code, r.stderr, tt.code, tt.stderr)
			}
		})
	}
}

func TestLogFormatJSON(t *testing.T) {
	for name, tt := range map[string]struct {
		vars map[string]string
		args []string
	}{
		"flag": {nil, []string{"--log-format", "json", "--log-level", "debug", "version"}},
		"env":  {map[string]string{"EXPORTER_LOG_FORMAT": "json", "EXPORTER_LOG_LEVEL": "debug"}, []string{"version"}},
		// The flag beats the environment, even a bad value in it.
		"flag over env": {map[string]string{"EXPORTER_LOG_FORMAT": "xml"}, []string{"--log-format=json", "--log-level=debug", "version"}},
		// Global flags are accepted after the command too (issue 19, item 7).
		"flag after the command":          {nil, []string{"version", "--log-format", "json", "--log-level", "debug"}},
		"flag after the command over env": {map[string]string{"EXPORTER_LOG_FORMAT": "xml"}, []string{"version", "--log-format=json", "--log-level=debug"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := exec(t, tt.vars, tt.args...)
			if r.code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if len(lines) < 2 {
				t.Fatalf("want the start and finish debug lines, got stderr %q", r.stderr)
			}
			for _, line := range lines {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("log line is not JSON: %q: %v", line, err)
				}
				if rec["level"] != "DEBUG" || rec["command"] != "version" {
					t.Errorf("log line %q lacks level DEBUG and command version", line)
				}
			}
			if !strings.HasPrefix(r.stdout, "exporter ") {
				t.Errorf("logs must not go to stdout: %q", r.stdout)
			}
		})
	}
}

func TestLogFormatTextAndLevel(t *testing.T) {
	r := exec(t, nil, "--log-level", "debug", "version")
	if !strings.Contains(r.stderr, "level=DEBUG msg=\"command started\" command=version") {
		t.Errorf("want a text debug line, got %q", r.stderr)
	}
	// The default level, info, hides debug lines but shows info ones.
	r = exec(t, nil, "test-fail", "plain")
	if strings.Contains(r.stderr, "DEBUG") || !strings.Contains(r.stderr, "level=INFO msg=\"failing on purpose\" mode=plain") {
		t.Errorf("at the default level, want info lines and no debug lines, got %q", r.stderr)
	}
}

func TestVersion(t *testing.T) {
	r := exec(t, nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "exporter "+version+"\n") || !strings.Contains(r.stdout, runtime.Version()) {
		t.Errorf("got exit %d, stdout %q; want version %q and %s", r.code, r.stdout, version, runtime.Version())
	}

	old := version
	version = "v9.8.7"
	t.Cleanup(func() { version = old })
	if r := exec(t, nil, "version", "--short"); r.stdout != "v9.8.7\n" {
		t.Errorf("version --short printed %q, want %q", r.stdout, "v9.8.7\n")
	}
}

func TestSignalCancelsContext(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGTERM on windows")
	}
	r := exec(t, nil, "test-signal")
	if r.code != 1 || r.stderr != "exporter: terminated signal received\n" {
		t.Errorf("got exit %d, stderr %q; want exit 1 and the signal named", r.code, r.stderr)
	}
}
