package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// unknownCommand reports the first word of args that names no command
// where one is expected: `fpemu NOSUCH`, `fpemu token NOSUCH`, also with
// --help (which cobra would otherwise answer with the parent's help and
// exit 0), and `fpemu help NOSUCH`. It returns the command the word was
// given to and a usage error naming the word, or (nil, nil) when args name
// a command — whatever else is wrong with them is left to cobra.
//
// It works on a throwaway command tree, so the tree that then runs parses
// its flags afresh.
func unknownCommand(args []string) (*cobra.Command, error) {
	var started bool
	root := newRootCmd(&started)
	root.InitDefaultHelpCmd()
	c, rest, err := root.Find(args)
	if err != nil {
		return nil, nil
	}
	if c.Name() == "help" && c.Parent() == root {
		// `fpemu help TOPIC...`: the topic must be a command.
		words := positionalArgs(c, rest)
		if len(words) == 0 {
			return nil, nil
		}
		return unknownCommand(words)
	}
	if !c.HasSubCommands() {
		return nil, nil
	}
	words := positionalArgs(c, rest)
	if len(words) == 0 {
		return nil, nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", words[0], c.CommandPath())
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's default
	}
	if s := c.SuggestionsFor(words[0]); len(s) > 0 {
		msg += " (did you mean " + strings.Join(s, ", ") + "?)"
	}
	return c, usageErrorf("%s", msg)
}

// positionalArgs returns args without c's flags and their values; nil if
// they do not parse (cobra then reports the flag error itself).
func positionalArgs(c *cobra.Command, args []string) []string {
	c.InitDefaultHelpFlag()
	// A group has no flags of its children: skip unknown ones (and the
	// value after them) as cobra's own search for the command does.
	c.FParseErrWhitelist.UnknownFlags = true
	if err := c.ParseFlags(args); err != nil {
		return nil
	}
	return c.Flags().Args()
}
