package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Flag parsing for every command: flags may come before, between or after
// the arguments (`synack get http://10.7.0.1/ -v`), as with GNU tools,
// and "--" ends them (what follows is an argument even when it starts with
// a dash). Go's flag package stops at the first argument, so parseArgs
// first sorts the flags out of the arguments, then hands the flags to it.
//
// A mistake is reported in one line and a hint, not the whole usage:
//
//	synack get: flag provided but not defined: -x
//	Run 'synack get --help' for usage.

// parseArgs parses fs from args, flags anywhere among the arguments, which
// fs.Args then returns in their order. A bad flag is reported in one line
// and a hint (errUsage); --help prints the usage and returns flag.ErrHelp.
func parseArgs(fs *flag.FlagSet, args []string) error {
	flags, positional, dangling := splitArgs(fs, args)
	if dangling {
		positional = nil // the last flag lacks its value: Parse says so
	} else {
		flags = append(flags, "--")
	}
	out, usage := fs.Output(), fs.Usage
	// The flag package prints the error and the whole usage on a mistake:
	// silence it and say it in one line below.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(append(flags, positional...))
	fs.SetOutput(out)
	fs.Usage = usage
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		usage()
		return err
	}
	return usageErr(fs, "%v", err)
}

// splitArgs sorts args into the flags, each with its value when the flag
// takes one as the next argument, and the positional arguments: those
// that do not start with a dash, "-" itself and everything after "--".
// An unknown flag goes with the flags, for fs.Parse to report; dangling
// is set when the last flag lacks the value it takes.
func splitArgs(fs *flag.FlagSet, args []string) (flags, positional []string, dangling bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(positional, args[i+1:]...), false
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		if needsValue(fs, a) {
			if i+1 == len(args) {
				return flags, positional, true
			}
			i++
			flags = append(flags, args[i]) // the value, even if it starts with a dash
		}
	}
	return flags, positional, false
}

// needsValue reports whether the argument a is a flag of fs that takes
// the next argument as its value: not -name=value, not a bool flag, and
// not an unknown flag (Parse reports that).
func needsValue(fs *flag.FlagSet, a string) bool {
	name := strings.TrimLeft(a, "-")
	if len(a) < 2 || a[0] != '-' || strings.Contains(name, "=") {
		return false
	}
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag() // a bool flag takes a value only as -name=value
}

// commandName is the "synack NAME" of fs, whose name newFlags made
// "synack NAME [ARGS]".
func commandName(fs *flag.FlagSet) string {
	f := strings.Fields(fs.Name())
	if len(f) > 2 {
		f = f[:2]
	}
	return strings.Join(f, " ")
}

// usageErr reports a mistake in a command's arguments in one line, with a
// hint where the usage is, and returns errUsage (exit status 2).
func usageErr(fs *flag.FlagSet, format string, a ...any) error {
	name := commandName(fs)
	fmt.Fprintf(fs.Output(), "%s: %s\nRun '%s --help' for usage.\n", name, fmt.Sprintf(format, a...), name)
	return errUsage
}

// wantArgs parses fs from args and checks that n arguments remain; what
// names them in the message when they do not ("one URL").
func wantArgs(fs *flag.FlagSet, args []string, n int, what string) error {
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() != n {
		if n == 0 {
			return usageErr(fs, "unexpected argument %q", fs.Arg(0))
		}
		return usageErr(fs, "needs exactly %s, got %d arguments", what, fs.NArg())
	}
	return nil
}

// flagGiven reports whether the flag name was set on the command line
// (after fs has parsed it), rather than left at its default.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
