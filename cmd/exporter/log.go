package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
)

// globalOptions holds the flags that go before the command.
type globalOptions struct {
	logFormat *choice
	logLevel  *choice
}

// envFallback names the environment variable read for a global flag that
// was not given on the command line.
var envFallback = []struct{ flag, key string }{
	{"log-format", "EXPORTER_LOG_FORMAT"},
	{"log-level", "EXPORTER_LOG_LEVEL"},
}

func newGlobalFlags() (*flag.FlagSet, *globalOptions) {
	fs := flag.NewFlagSet("exporter", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints errors and help itself
	o := &globalOptions{
		logFormat: newChoice("text", "text", "json"),
		logLevel:  newChoice("info", "debug", "info", "warn", "error"),
	}
	fs.Var(o.logFormat, "log-format", "log format on stderr: text for terminals, json for machines; env EXPORTER_LOG_FORMAT")
	fs.Var(o.logLevel, "log-level", "least severe level logged; env EXPORTER_LOG_LEVEL")
	return fs, o
}

// applyEnv fills in flags that were not given from the environment: a flag
// beats its variable, so a bad variable is an error only when it is used.
// The flags may have been given before the command (fs) or after it
// (more).
func (o *globalOptions) applyEnv(getenv func(string) string, fs *flag.FlagSet, more ...*flag.FlagSet) error {
	given := map[string]bool{}
	for _, s := range append([]*flag.FlagSet{fs}, more...) {
		s.Visit(func(f *flag.Flag) { given[f.Name] = true })
	}
	for _, e := range envFallback {
		v := getenv(e.key)
		if v == "" || given[e.flag] {
			continue
		}
		if err := fs.Set(e.flag, v); err != nil {
			return fmt.Errorf("invalid %s %q: %w", e.key, v, err)
		}
	}
	return nil
}

var levels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// newLogger returns a logger writing to w; format and level have been
// checked by their flags.
func newLogger(w io.Writer, format, level string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: levels[level]}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// choice is a flag.Value that accepts one of a fixed set of words, so a typo
// fails at parse time with the list of valid values.
type choice struct {
	allowed []string
	value   string
}

func newChoice(def string, allowed ...string) *choice {
	return &choice{allowed: allowed, value: def}
}

func (c *choice) String() string {
	if c == nil { // the flag package calls String on a zero value
		return ""
	}
	return c.value
}

func (c *choice) Set(s string) error {
	s = strings.ToLower(s)
	if !slices.Contains(c.allowed, s) {
		return fmt.Errorf("want one of %s", strings.Join(c.allowed, ", "))
	}
	c.value = s
	return nil
}
