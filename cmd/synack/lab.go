package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/synack-net/synack/lab"
)

const labAbout = `lab runs the experiments of the articles as named scenarios: two synack
stacks in one process, a client at 10.0.0.1 and a server at 10.0.0.2, on an
in-memory link and a virtual clock. Each prints the sequence diagram of its
connection with both sides' states, what the applications saw, and a
paragraph saying what happened and why, with the RFC section it follows.
Sequence numbers are relative to each side's initial one, as Wireshark shows
them. The same seed and conditions give the same output, byte for byte.

'synack lab' lists the scenarios; 'synack lab NAME' runs one.`

func runLab(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("lab", labAbout+"\n\n"+faultAbout, stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: synack lab [NAME] [flags]\n\n%s\n\n%s\n\nFlags:\n", labAbout, faultAbout)
		fs.PrintDefaults()
	}
	events := fs.Bool("events", false, "also print every trace event of both stacks with its protocol time (absolute sequence numbers: they change from run to run)")
	var ff faultFlags
	ff.register(fs) // --seed too: it also picks the client's port
	// The name may come before the flags or after them.
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	var name string
	if fs.NArg() > 1 {
		return usageErr(fs, "one scenario at a time: %s", strings.Join(fs.Args(), " "))
	}
	if fs.NArg() == 1 {
		name = fs.Arg(0)
	}
	faults, _, err := ff.config() // the lab puts it on its virtual clock
	if err != nil {
		return err
	}
	if name == "" {
		fmt.Fprintln(stdout, "synack lab: the articles' experiments, each on two stacks in one process. Run 'synack lab NAME':")
		fmt.Fprintln(stdout)
		return lab.List(stdout)
	}
	err = lab.Run(stdout, name, lab.Options{Seed: faults.Seed, Faults: faults, Events: *events})
	var unknown *lab.UnknownError
	if errors.As(err, &unknown) {
		fmt.Fprintf(stderr, "synack lab: no scenario %q. The scenarios are:\n", name)
		lab.List(stderr)
		return errUsage
	}
	return err
}
