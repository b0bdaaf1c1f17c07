// Command synack runs the synack userspace TCP/IP stack: `synack demo`
// shows the journey of one HTTP request through two stacks in one process,
// and `synack` alone lists the commands. It is the command-line face of the
// stack and holds no protocol logic of its own.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// command is one subcommand of synack.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"demo", "show the journey of one HTTP request over two stacks in one process", runDemo},
	{"serve", "run a stack on a TUN device with echo, discard and HTTP services", runServe},
	{"get", "fetch a URL over HTTP with synack as the client on a TUN device", runGet},
	{"ping", "send ICMP echo requests from synack on a TUN device and print the round trips", runPing},
	{"dial", "netcat over synack on a TUN device: stdin to the connection, the connection to stdout", runDial},
	{"lab", "run the articles' experiments (handshake, refused, backlog-full, ...) as scenarios on two stacks", runLab},
	{"ss", "print a running serve's sockets as ss -tanoei does (from its admin endpoint)", runSS},
	{"netstat", "print a running serve's sockets, or with -s its counters as netstat -s does", runNetstat},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stdout)
		return 0
	}
	name, args := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 0 && args[0] != "help" && lookup(args[0]) != nil {
			return run([]string{args[0], "--help"}, stdout, stderr) // synack help get
		}
		usage(stdout)
		return 0
	}
	c := lookup(name)
	if c == nil {
		what := "unknown command"
		if strings.HasPrefix(name, "-") {
			what = "a flag before the command:"
		}
		fmt.Fprintf(stderr, "synack: %s %q; the commands are %s\nRun 'synack help' for what each does.\n",
			what, name, strings.Join(commandNames(), ", "))
		return 2
	}
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

// lookup returns the command called name, or nil.
func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// commandNames lists the commands' names in the table's order.
func commandNames() []string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return names
}

// errUsage marks an error already reported, in one line and a hint
// (flags.go).
var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprintln(w, "synack is a userspace TCP/IP stack. Usage: synack <command> [arguments] [flags]")
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

// flagErr maps an error of fs.Parse: --help stays itself, anything else
// has been reported with the usage already. Commands use parseArgs or
// wantArgs (flags.go) instead, which take flags after the arguments too.
func flagErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return errUsage
}

// parseFlags parses args, flags anywhere (flags.go), and wants no
// argument besides them.
func parseFlags(fs *flag.FlagSet, args []string) error {
	return wantArgs(fs, args, 0, "")
}
