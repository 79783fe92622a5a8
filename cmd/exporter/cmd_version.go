package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at build time:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=0123abc" ./cmd/exporter
var (
	version = "dev"
	commit  = ""
)

func newVersionCmd() *Command {
	var short bool
	return &Command{
		Name:    "version",
		Summary: "print the exporter's version",
		Usage: `
Usage: exporter version [--short]

Print the exporter's version, the commit it was built from (when known),
and the Go version and platform it was built for.

Examples:
  exporter version
  exporter version --short    # just the version, for scripts
`,
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&short, "short", false, "print only the version")
		},
		Run: func(ctx context.Context, env *Env, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unexpected argument %q", args[0])
			}
			if short {
				fmt.Fprintln(env.Stdout, version)
				return nil
			}
			fmt.Fprintf(env.Stdout, "exporter %s\n", version)
			if c := buildCommit(); c != "" {
				fmt.Fprintf(env.Stdout, "commit:  %s\n", c)
			}
			fmt.Fprintf(env.Stdout, "go:      %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

// buildCommit prefers the -ldflags value and falls back to what the go tool
// stamped from git (absent with -buildvcs=false or outside a checkout).
func buildCommit() string {
	if commit != "" {
		return commit
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}
