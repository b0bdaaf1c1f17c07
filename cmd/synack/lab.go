package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
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
	fs := newFlags("lab", labAbout, stderr)
	seed := fs.Uint64("seed", lab.DefaultSeed, "seed of the client's port and of the faults' decisions")
	loss := fs.String("loss", "0", "share of packets lost each way, at random by the seed: 2% or 0.02")
	delay := fs.Duration("delay", 0, "one-way delay of every packet (100ms)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: synack lab [NAME] [flags]\n\n%s\n\nFlags:\n", labAbout)
		fs.PrintDefaults()
	}
	events := fs.Bool("events", false, "also print every trace event of both stacks with its protocol time (absolute sequence numbers: they change from run to run)")
	// The name may come before the flags or after them.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	if fs.NArg() > 0 {
		if name != "" || fs.NArg() > 1 {
			return fmt.Errorf("one scenario at a time: %s", strings.Join(append([]string{name}, fs.Args()...), " "))
		}
		name = fs.Arg(0)
	}
	if name == "" {
		fmt.Fprintln(stdout, "synack lab: the articles' experiments, each on two stacks in one process. Run 'synack lab NAME':")
		fmt.Fprintln(stdout)
		return lab.List(stdout)
	}
	pct, err := parsePercent(*loss)
	if err != nil {
		return fmt.Errorf("--loss %q: %v", *loss, err)
	}
	err = lab.Run(stdout, name, lab.Options{Seed: *seed, Loss: pct, Delay: *delay, Events: *events})
	var unknown *lab.UnknownError
	if errors.As(err, &unknown) {
		fmt.Fprintf(stderr, "synack lab: no scenario %q. The scenarios are:\n", name)
		lab.List(stderr)
		return errUsage
	}
	return err
}

// parsePercent reads "2%" as 2 and "0.02" as 2.
func parsePercent(s string) (float64, error) {
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, errors.New("want a share such as 2% or 0.02")
	}
	if !pct {
		v *= 100
	}
	if v < 0 || v > 100 {
		return 0, errors.New("a share is from 0% to 100%: write 20% or 0.2")
	}
	return v, nil
}
