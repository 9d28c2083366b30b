package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// showHelp prints a command's help: what it does, how to call it, its
// arguments, its own flags, the flags it shares with the other commands of
// its group, and examples; for the program and each group, every command
// below it.
func showHelp(cmd *cobra.Command, _ []string) {
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "%s: %s\n", cmd.CommandPath(), cmd.Short)
	if cmd.Long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(cmd.Long))
	}
	fmt.Fprintln(w)
	usage(w, cmd)
}

// usage prints how to call a command (the part of its help after the
// description).
func usage(w io.Writer, cmd *cobra.Command) {
	fmt.Fprintln(w, "Usage:")
	if cmd.HasAvailableSubCommands() {
		fmt.Fprintf(w, "  %s COMMAND [arguments] [flags]\n\nCommands:\n", cmd.CommandPath())
		listCommands(w, cmd)
	} else {
		fmt.Fprintf(w, "  %s\n", cmd.UseLine())
	}
	if args := cmd.Annotations["args"]; args != "" {
		fmt.Fprintln(w, "\nArguments:")
		tw := newTable(w)
		for _, line := range strings.Split(strings.TrimSpace(args), "\n") {
			fmt.Fprintf(tw, "  %s\n", line)
		}
		tw.Flush()
	}
	if fs := cmd.LocalFlags(); fs.HasAvailableFlags() {
		fmt.Fprintf(w, "\nFlags:\n%s", fs.FlagUsages())
	}
	if fs := cmd.InheritedFlags(); fs.HasAvailableFlags() {
		fmt.Fprintf(w, "\nFlags of every %s command:\n%s", sharer(cmd).CommandPath(), fs.FlagUsages())
	}
	if cmd.Example != "" {
		fmt.Fprintln(w, "\nExamples:")
		for _, line := range strings.Split(strings.TrimSpace(cmd.Example), "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	if cmd.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\nRun \"%s COMMAND --help\" for a command's arguments and flags.\n", cmd.CommandPath())
	}
}

// sharer is the group whose flags a verb inherits.
func sharer(cmd *cobra.Command) *cobra.Command {
	for p := cmd.Parent(); p != nil; p = p.Parent() {
		if p.PersistentFlags().HasAvailableFlags() {
			return p
		}
	}
	return cmd.Root()
}

// listCommands lists every command below cmd that runs something, as
// "fieldsync record get TABLE ID  print a row", the description aligned
// (or on a line of its own under a long command).
func listCommands(w io.Writer, cmd *cobra.Command) {
	const column = 44
	for _, c := range leaves(cmd) {
		line := "  " + c.Root().Name() + " " + synopsis(c)
		if len(line) > column-2 {
			fmt.Fprintf(w, "%s\n%s%s\n", line, strings.Repeat(" ", column), c.Short)
			continue
		}
		fmt.Fprintf(w, "%-*s%s\n", column, line, c.Short)
	}
}

// leaves are the commands below cmd that are not groups, in the order
// they were added; a group marked "listed whole" (completion) stands for
// its verbs.
func leaves(cmd *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, c := range cmd.Commands() {
		switch {
		case !c.IsAvailableCommand() && c.Name() != "help":
		case c.HasAvailableSubCommands() && c.Annotations["listed whole"] == "":
			out = append(out, leaves(c)...)
		default:
			out = append(out, c)
		}
	}
	return out
}

// builtins adds the commands every command line has: help, and completion
// (cobra's, told to list itself as one command and to refuse a shell it
// does not know).
func builtins(root *cobra.Command) {
	root.SetHelpCommand(&cobra.Command{
		Use: "help [COMMAND]", Short: "print the help of fieldsync or of a command",
		Example: "fieldsync help client sync",
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return fmt.Errorf("%w: no command %q to help with (run fieldsync help)", errUsage, strings.Join(args, " "))
			}
			cmd.InitDefaultHelpFlag() // listed as --help is
			cmd.InitDefaultVersionFlag()
			return cmd.Help()
		},
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, _, _ := c.Root().Find(args)
			var out []cobra.Completion
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
	})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	c := subcommand(root, "completion")
	c.Use, c.Short = "completion bash|zsh|fish|powershell", "print a shell script that completes fieldsync's commands and flags"
	c.Annotations = map[string]string{"listed whole": "yes"}
	c.Example = "source <(fieldsync completion bash)\nfieldsync completion fish > ~/.config/fish/completions/fieldsync.fish"
	c.Args, c.RunE = cobra.ArbitraryArgs, func(cmd *cobra.Command, args []string) error { return unknownVerb(cmd, "shell", args) }
	for _, sh := range c.Commands() {
		sh.Example = fmt.Sprintf("fieldsync completion %s > fieldsync.%s", sh.Name(), sh.Name())
	}
}
