// Command exporter exports who has access to what from Azure DevOps
// organizations, and what changed since last time.
//
// Run 'exporter --help' for the commands and global flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// Exit codes. Commands may pick others with exitCode (e.g. diff --exit-code).
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// Env is what a command gets from the outside world. Commands use it instead
// of os.Stdout, os.Stderr and os.Getenv so tests can run them in-process.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(key string) string
	// Logger writes to Stderr in the format chosen by --log-format; run sets it.
	Logger *slog.Logger
}

func main() {
	os.Exit(run(os.Args[1:], &Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}))
}

// run is the whole program minus os.Exit: it parses the global flags, picks
// the command, parses its flags, runs it and turns the result into an exit
// code. args excludes the program name.
func run(args []string, env *Env) int {
	e := *env // run sets Logger; leave the caller's Env as it was
	env = &e

	global, opts := newGlobalFlags()
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printTopHelp(env.Stdout)
			return exitOK
		}
		return topUsageError(env, err)
	}
	rest := global.Args()
	if len(rest) == 0 {
		printTopHelp(env.Stderr)
		return exitUsage
	}
	name := rest[0]
	cmd := lookup(name)
	if cmd == nil {
		return topUsageError(env, fmt.Errorf("unknown command %q", name))
	}
	fs := cmd.flagSet()
	// The global flags are accepted after the command too ("exporter run
	// JOB --log-format json"), setting the same values.
	global.VisitAll(func(f *flag.Flag) {
		if fs.Lookup(f.Name) == nil {
			fs.Var(f.Value, f.Name, f.Usage)
		}
	})
	positional, err := parseInterspersed(fs, rest[1:])
	if err == nil {
		if err := opts.applyEnv(env.Getenv, global, fs); err != nil {
			return topUsageError(env, err)
		}
	}
	env.Logger = newLogger(env.Stderr, opts.logFormat.String(), opts.logLevel.String())
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandHelp(env.Stdout, cmd)
			return exitOK
		}
		return report(env, cmd.Name, nil, &usageError{msg: err.Error()})
	}
	if stop := startProfile(env); stop != nil {
		defer stop()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, restore default handling so that a second
	// Ctrl-C kills a command that is slow to wind down.
	go func() {
		<-ctx.Done()
		stop()
	}()

	start := time.Now()
	env.Logger.Debug("command started", "command", cmd.Name)
	err = cmd.Run(ctx, env, positional)
	env.Logger.Debug("command finished", "command", cmd.Name, "duration", time.Since(start), "ok", err == nil)
	return report(env, cmd.Name, ctx, err)
}

// parseInterspersed parses flags wherever they appear among the arguments
// ("show users --format csv" as well as "show --format csv users"); after
// "--" everything is an argument.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// topUsageError reports a mistake made before a command was chosen.
func topUsageError(env *Env, err error) int {
	fmt.Fprintf(env.Stderr, "exporter: %v\nrun 'exporter --help' for usage\n", err)
	return exitUsage
}

// report prints what a command's error means to a person and returns the
// exit code it stands for. ctx is the command's context, nil if it never ran.
func report(env *Env, name string, ctx context.Context, err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		hint := "exporter help " + name
		if name == "help" { // "exporter help help" would not help
			hint = "exporter --help"
		}
		fmt.Fprintf(env.Stderr, "exporter %s: %v\nrun '%s' for usage\n", name, err, hint)
		return exitUsage
	}
	var ce *exitCodeError
	if errors.As(err, &ce) {
		if ce.err != nil {
			fmt.Fprintf(env.Stderr, "exporter: %v\n", ce.err)
		}
		return ce.code
	}
	// "interrupt signal received" says more than "context canceled".
	if ctx != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = context.Cause(ctx)
	}
	err = snapshot.Explain(err) // "database disk image is malformed" says what to do

	fmt.Fprintf(env.Stderr, "exporter: %v\n", err)
	return exitError
}

// usageError means the command was invoked wrongly: run prints it with a
// pointer to the command's help and exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usageErrorf returns a usageError; commands use it for bad arguments.
func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitCodeError ends the program with a chosen exit code. If err is nil,
// nothing is printed: the command has already said what it had to say
// (e.g. "diff --exit-code" printed the differences and exits 1).
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit code %d", e.code)
	}
	return e.err.Error()
}

func (e *exitCodeError) Unwrap() error { return e.err }

// exitCode returns an error that makes run exit with code, printing err if
// it is not nil.
func exitCode(code int, err error) error {
	return &exitCodeError{code: code, err: err}
}
