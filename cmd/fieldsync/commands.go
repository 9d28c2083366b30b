package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// errUsage marks errors in how a command was called (exit status 2).
var errUsage = errors.New("usage")

// group makes a command whose verbs come after it (fieldsync record get):
// called without a verb, or with one it does not know, it fails with a
// usage error naming its verbs. word is what it calls them.
func group(use, short, word string, verbs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{Use: use, Short: short, Args: cobra.ArbitraryArgs}
	g.AddCommand(verbs...)
	g.RunE = func(cmd *cobra.Command, args []string) error { return unknownVerb(cmd, word, args) }
	return g
}

// unknownVerb is the usage error of a group called without one of its
// verbs.
func unknownVerb(cmd *cobra.Command, word string, args []string) error {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	if len(args) == 0 {
		return fmt.Errorf("%w: %s needs a %s: %s", errUsage, path(cmd), word, strings.Join(names, ", "))
	}
	return fmt.Errorf("%w: unknown %s %s %q (%s)", errUsage, path(cmd), word, args[0], strings.Join(names, ", "))
}

// path is a command's path without the program's name: "admin node add".
func path(cmd *cobra.Command) string {
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// synopsis is a command's path and positional arguments, as its Use line
// gives them: "record get TABLE ID".
func synopsis(cmd *cobra.Command) string {
	return path(cmd) + strings.TrimPrefix(cmd.Use, cmd.Name())
}

// between checks that a verb has from min to max positional arguments
// (max < 0: no limit), or fails with a usage error showing its synopsis.
func between(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || max >= 0 && len(args) > max {
			return fmt.Errorf("%w: %s", errUsage, synopsis(cmd))
		}
		return nil
	}
}

func exactly(n int) cobra.PositionalArgs { return between(n, n) }

func atLeast(n int) cobra.PositionalArgs { return between(n, -1) }

// noArgs refuses positional arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: %s takes no arguments, got %q", errUsage, path(cmd), args[0])
	}
	return nil
}

// arguments describes a verb's positional arguments for its help, as
// pairs of a name and what it is.
func arguments(pairs ...string) map[string]string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		fmt.Fprintf(&b, "%s\t%s\n", pairs[i], pairs[i+1])
	}
	return map[string]string{"args": b.String()}
}

// flagError is the usage error of a flag the command line got wrong: one
// line naming the flag and the value, and where the command's help is.
func flagError(cmd *cobra.Command, err error) error {
	see := fmt.Sprintf("see %s --help", cmd.CommandPath())
	var bad *pflag.InvalidValueError
	if errors.As(err, &bad) {
		return fmt.Errorf("%w: --%s: %q is not %s (%s)", errUsage, bad.GetFlag().Name, bad.GetValue(), valueKind(bad.GetFlag()), see)
	}
	return fmt.Errorf("%w: %v (%s)", errUsage, err, see)
}

// flagLooksLikeFlag refuses a text flag given a value that is itself a
// flag ("fieldsync server --data --help" would make a folder named
// "--help"): its value was forgotten.
func flagLooksLikeFlag(cmd *cobra.Command, _ []string) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if err == nil && f.Value.Type() == "string" && strings.HasPrefix(f.Value.String(), "--") {
			err = fmt.Errorf("%w: --%s: %q is a flag, not its value (give the value after --%s; see %s --help)",
				errUsage, f.Name, f.Value.String(), f.Name, cmd.CommandPath())
		}
	})
	return err
}

// valueKind says what a flag's value must be.
func valueKind(f *pflag.Flag) string {
	switch f.Value.Type() {
	case "int", "int64":
		return "a whole number"
	case "duration":
		return "a duration such as 90s, 15m or 720h"
	case "bool":
		return "true or false"
	}
	return "a valid " + f.Value.Type()
}

// commandFirst puts the words naming the command (admin node add) in front
// of the other arguments, so that flags may come before, between or after
// them, and gives two dashes to flags spelled with one in the style of Go's
// flag package (-json, -dir=x). The command's name ends at the first word
// that is not a subcommand; "--" ends the flags. Shell completion requests
// are left as they are. unknown is the first word when it names no
// command.
func commandFirst(root *cobra.Command, args []string) (_ []string, unknown string) {
	if len(args) > 0 && strings.HasPrefix(args[0], cobra.ShellCompRequestCmd) {
		return args, ""
	}
	takesValue := flagKinds(root)
	cmd, naming := root, true
	var name, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch sub := subcommand(cmd, a); {
		case a == "--":
			return slices.Concat(name, rest, args[i:]), unknown
		case len(a) > 1 && a[0] == '-':
			flag, _, withValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !strings.HasPrefix(a, "--") && len(flag) > 1 && takesValue[flag] != nil {
				a = "-" + a
			}
			rest = append(rest, a)
			if v := takesValue[flag]; v != nil && *v && !withValue && i+1 < len(args) {
				i++
				rest = append(rest, args[i])
			}
		case naming && sub != nil:
			cmd, name = sub, append(name, a)
		default:
			if naming && cmd == root {
				unknown = a
			}
			naming = false
			rest = append(rest, a)
		}
	}
	return append(name, rest...), unknown
}

// flagKinds says, for the long name of every flag of every command,
// whether it takes a value (--limit 5) or stands alone (--json).
func flagKinds(root *cobra.Command) map[string]*bool {
	kinds := map[string]*bool{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.Flags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) {
				v := f.NoOptDefVal == ""
				kinds[f.Name] = &v
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return kinds
}

func subcommand(cmd *cobra.Command, word string) *cobra.Command {
	for _, c := range cmd.Commands() {
		if c.Name() == word || c.HasAlias(word) {
			return c
		}
	}
	return nil
}
