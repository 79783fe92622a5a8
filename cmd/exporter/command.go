package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// A Command is one verb of the exporter: "exporter NAME [flags] [args]".
type Command struct {
	Name    string
	Summary string // one line, lower case, no period; shown in the command list
	// Usage is the help text: first a "Usage: exporter NAME ..." synopsis,
	// then a description and examples. The flag list is appended to it.
	Usage string
	// Flags declares the command's flags on fs; nil if it has none. The
	// constructor binds them to variables that Run reads.
	Flags func(fs *flag.FlagSet)
	// Run does the work. ctx is canceled on SIGINT or SIGTERM; args are
	// what is left after the flags. Return usageErrorf(...) for bad
	// arguments (exit 2) or exitCode(n, err) for a specific exit code;
	// any other error exits 1.
	Run func(ctx context.Context, env *Env, args []string) error
}

// commands is the registry. Each entry builds a fresh Command, so flag
// variables captured by Flags and Run are never shared between runs (or
// between tests). To add a command, write cmd_<name>.go with a constructor
// and add one line here. help is not listed: it lists these, and naming it
// here would be an initialization cycle.
var commands = []func() *Command{
	newVersionCmd,
	newSimCmd,
	newDemoCmd,
	newSyncCmd,
	newRunsCmd,
	newShowCmd,
	newExportCmd,
	newVerifyCmd,
	newDiffCmd,
	newOrgsCmd,
	newRunCmd,
	newScheduleCmd,
	newSchedulesCmd,
	newApplyCmd,
	newKeygenCmd,
}

// allCommands returns every command, help included, sorted by name.
func allCommands() []*Command {
	cmds := []*Command{newHelpCmd()}
	for _, newCmd := range commands {
		cmds = append(cmds, newCmd())
	}
	slices.SortFunc(cmds, func(a, b *Command) int { return strings.Compare(a.Name, b.Name) })
	return cmds
}

// lookup returns the command called name, or nil.
func lookup(name string) *Command {
	for _, c := range allCommands() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// flagSet returns a new flag set holding the command's flags. It prints
// nothing itself: run decides where errors and help go.
func (c *Command) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if c.Flags != nil {
		c.Flags(fs)
	}
	return fs
}

// printTopHelp lists the commands and global flags.
func printTopHelp(w io.Writer) {
	fmt.Fprint(w, `exporter exports who has access to what from Azure DevOps, and what changed.

Usage:
  exporter [global flags] <command> [flags] [args]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, c := range allCommands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.Name, c.Summary)
	}
	tw.Flush()
	fmt.Fprint(w, "\nGlobal flags (before or after the command):\n")
	global, _ := newGlobalFlags()
	printFlags(w, global)
	fmt.Fprint(w, `
Exit codes (a command's help lists its own, e.g. diff --exit-code, run):
  0   success
  1   the command failed (a store keeps its last good snapshot)
  2   bad usage or configuration: an unknown flag or argument, a missing
      organization or credential, a bad schedule file
  3   (run) another run holds the store

Run 'exporter help <command>' for more about a command.
`)
}

// printCommandHelp prints a command's usage text and its flags.
func printCommandHelp(w io.Writer, c *Command) {
	fmt.Fprintln(w, strings.TrimSpace(c.Usage))
	fs := c.flagSet()
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprint(w, "\nFlags:\n")
		printFlags(w, fs)
	}
	fmt.Fprint(w, "\nGlobal flags (--log-format, --log-level) go before or after the command; see 'exporter --help'.\n")
}

// printFlags lists flags GNU-style ("--name TYPE"), which the flag package
// accepts as well as "-name".
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		if c, ok := f.Value.(*choice); ok {
			typ = strings.Join(c.allowed, "|")
		}
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		fmt.Fprintf(w, "%s\n        %s", line, usage)
		switch f.DefValue {
		case "", "false", "0", "0s":
		default:
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}
