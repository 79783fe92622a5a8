package main

import "context"

func newHelpCmd() *Command {
	return &Command{
		Name:    "help",
		Summary: "show help for exporter or for one command",
		Usage: `
Usage: exporter help [command]

Without a command, list the commands and the global flags. With one, show
that command's synopsis, description, examples and flags.
'exporter COMMAND --help' shows the same.

Examples:
  exporter help
  exporter help version
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			switch len(args) {
			case 0:
				printTopHelp(env.Stdout)
				return nil
			case 1:
				c := lookup(args[0])
				if c == nil {
					return usageErrorf("unknown command %q", args[0])
				}
				printCommandHelp(env.Stdout, c)
				return nil
			}
			return usageErrorf("want at most one command name, got %d arguments", len(args))
		},
	}
}
