// Command synack runs the synack userspace TCP/IP stack: `synack demo`
// (the default) shows the journey of one HTTP request through two stacks in
// one process. It is the command-line face of the stack and holds no
// protocol logic of its own.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// command is one subcommand of synack.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"demo", "show the journey of one HTTP request over two stacks in one process (the default)", runDemo},
	{"serve", "run a stack on a TUN device with echo, discard and HTTP services", runServe},
	{"get", "fetch a URL over HTTP with synack as the client on a TUN device", runGet},
	{"ping", "send ICMP echo requests from synack on a TUN device and print the round trips", runPing},
	{"dial", "netcat over synack on a TUN device: stdin to the connection, the connection to stdout", runDial},
	{"ss", "print a running serve's sockets as ss -tanoei does (from its admin endpoint)", runSS},
	{"netstat", "print a running serve's sockets, or with -s its counters as netstat -s does", runNetstat},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	name := "demo"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		name, args = args[0], args[1:]
	}
	if name == "help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands {
		if c.name == name {
			err := c.run(args, stdout, stderr)
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				return 2
			}
			fmt.Fprintf(stderr, "synack %s: %v\n", name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "synack: unknown command %q\n\n", name)
	usage(stderr)
	return 2
}

// errUsage marks an error already reported with the command's usage.
var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprintln(w, "synack is a userspace TCP/IP stack. Usage: synack <command> [flags]")
	fmt.Fprintln(w)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'synack <command> --help' for a command's flags.")
}

// newFlags makes a command's flag set whose errors go to stderr and whose
// --help prints about, then the flags.
func newFlags(name, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("synack "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: synack %s [flags]\n\n%s\n\nFlags:\n", name, about)
		fs.PrintDefaults()
	}
	return fs
}

// flagErr maps a flag parse error: --help stays itself, anything else has
// been reported with the usage already.
func flagErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return errUsage
}

// parseFlags parses args, mapping a bad flag to errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}
