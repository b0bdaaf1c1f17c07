package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestHelpListsEveryCommand: `synack`, `synack help`, `synack --help` and
// `synack -h` list every command of the table, one line each, on stdout.
func TestHelpListsEveryCommand(t *testing.T) {
	for _, args := range [][]string{nil, {"help"}, {"--help"}, {"-h"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 0 || errb.Len() != 0 {
			t.Errorf("synack %v: exit %d, stderr %q; want 0 and nothing", args, code, errb.String())
		}
		lines := strings.Split(out.String(), "\n")
		for _, c := range commands {
			if strings.Contains(c.summary, "\n") {
				t.Errorf("command %s: its summary is more than one line", c.name)
			}
			want := fmt.Sprintf("  %-8s %s", c.name, c.summary)
			if !slices.Contains(lines, want) {
				t.Errorf("synack %v does not list %s in one line %q:\n%s", args, c.name, want, out.String())
			}
		}
	}
}

// TestEveryCommandHasHelp: `synack NAME --help` and `synack help NAME`
// print NAME's usage and exit 0, for every command of the table.
func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands {
		for _, args := range [][]string{{c.name, "--help"}, {"help", c.name}, {c.name, "-h"}} {
			var out, errb bytes.Buffer
			code := run(args, &out, &errb)
			if code != 0 || !strings.Contains(out.String()+errb.String(), "Usage: synack "+c.name) {
				t.Errorf("synack %v: exit %d, output %q; want 0 and the usage", args, code, out.String()+errb.String())
			}
		}
	}
}

// TestFlagErrorIsOneLine: an unknown flag, wherever it is, is reported in
// one line and a hint, not with the whole usage, by every command.
func TestFlagErrorIsOneLine(t *testing.T) {
	for _, c := range commands {
		for _, args := range [][]string{{c.name, "-x"}, {c.name, "10.7.0.1:7", "--x"}} {
			var out, errb bytes.Buffer
			code := run(args, &out, &errb)
			want := fmt.Sprintf("synack %s: flag provided but not defined: -x\nRun 'synack %s --help' for usage.\n", c.name, c.name)
			if code != 2 || errb.String() != want || out.Len() != 0 {
				t.Errorf("synack %v: exit %d, stdout %q, stderr %q; want exit 2 and stderr %q", args, code, out.String(), errb.String(), want)
			}
		}
	}
}

// TestUnknownCommandIsOneLine: an unknown command is reported in one line
// naming every command, and a hint.
func TestUnknownCommandIsOneLine(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"frobnicate"}, &out, &errb); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	lines := strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n")
	if len(lines) != 2 || lines[1] != "Run 'synack help' for what each does." {
		t.Fatalf("stderr %q: want one line and the hint", errb.String())
	}
	for _, c := range commands {
		if !strings.Contains(lines[0], c.name) {
			t.Errorf("%q does not name command %s", lines[0], c.name)
		}
	}
}

// TestFlagsAnywhere: parseArgs takes flags before, between and after the
// arguments; a flag's value may start with a dash; "--" ends the flags.
func TestFlagsAnywhere(t *testing.T) {
	cases := []struct {
		args []string
		v    bool
		s    string
		n    int
		rest []string
	}{
		{[]string{"10.0.0.2/", "-v"}, true, "", 0, []string{"10.0.0.2/"}},
		{[]string{"a", "--n", "3", "b", "-v", "c"}, true, "", 3, []string{"a", "b", "c"}},
		{[]string{"-s", "-x", "a"}, false, "-x", 0, []string{"a"}},
		{[]string{"a", "--s=b", "--v=false", "-"}, false, "b", 0, []string{"a", "-"}},
		{[]string{"a", "--", "-v", "--n", "3"}, false, "", 0, []string{"a", "-v", "--n", "3"}},
		{[]string{"-v", "--", "--"}, true, "", 0, []string{"--"}},
		{nil, false, "", 0, nil},
	}
	for _, c := range cases {
		fs := newFlags("test ARGS", "a test", &bytes.Buffer{})
		v, s, n := fs.Bool("v", false, ""), fs.String("s", "", ""), fs.Int("n", 0, "")
		if err := parseArgs(fs, c.args); err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if *v != c.v || *s != c.s || *n != c.n || !slices.Equal(fs.Args(), c.rest) {
			t.Errorf("%q: -v=%v -s=%q -n=%d args %q; want -v=%v -s=%q -n=%d args %q",
				c.args, *v, *s, *n, fs.Args(), c.v, c.s, c.n, c.rest)
		}
	}
}

// TestFlagErrorsOfParseArgs: each kind of flag mistake is one line and the
// hint, and --help prints the usage and returns flag.ErrHelp.
func TestFlagErrorsOfParseArgs(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"a", "--n", "three"}, `invalid value "three" for flag -n: parse error`},
		{[]string{"a", "--n"}, "flag needs an argument: -n"},
		{[]string{"--s", "--s", "--n"}, "flag needs an argument: -n"},
		{[]string{"---n=1"}, "bad flag syntax: ---n=1"},
	} {
		var errb bytes.Buffer
		fs := newFlags("test ARGS", "a test", &errb)
		fs.Int("n", 0, "")
		fs.String("s", "", "")
		err := parseArgs(fs, c.args)
		want := "synack test: " + c.want + "\nRun 'synack test --help' for usage.\n"
		if err != errUsage || errb.String() != want {
			t.Errorf("%q: %v, stderr %q; want errUsage and %q", c.args, err, errb.String(), want)
		}
	}
	var errb bytes.Buffer
	fs := newFlags("test ARGS", "a test", &errb)
	fs.Int("n", 0, "the n")
	if err := parseArgs(fs, []string{"a", "--help"}); err != flag.ErrHelp || !strings.Contains(errb.String(), "Usage: synack test ARGS") || !strings.Contains(errb.String(), "the n") {
		t.Errorf("--help: %v, stderr %q; want flag.ErrHelp and the usage", err, errb.String())
	}
}

// TestReadmeListsEveryCommand: the README's Commands section has a line
// for every command of the table, so a new command cannot go unlisted.
func TestReadmeListsEveryCommand(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Commands\n")
	if !ok {
		t.Fatal("README.md has no ## Commands section")
	}
	if i := strings.Index(sec, "\n## "); i >= 0 {
		sec = sec[:i]
	}
	for _, c := range commands {
		if !strings.Contains(sec, "\n- `synack "+c.name+"`") && !strings.Contains(sec, "\n- `synack "+c.name+" ") {
			t.Errorf("README.md's Commands section has no line \"- `synack %s ...`: ...\"", c.name)
		}
	}
}
