package synack_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The README's Go program is the newcomer's first contact: it must compile
// as printed and do what it says. It is taken from README.md, between the
// readmeMarker comment and the end of the ```go block after it, so the
// test and the README cannot drift; Example (example_test.go) is the same
// code, and go test checks its output.

const readmeMarker = "<!-- readme-program:"

// readmeProgram returns the Go program the README shows after its marker.
func readmeProgram(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, readmeMarker)
	if i < 0 {
		t.Fatalf("README.md has no %q comment before its Go program", readmeMarker)
	}
	s = s[i:]
	const fence = "\n```go\n"
	i = strings.Index(s, fence)
	if i < 0 || strings.Count(s[:i], "\n") > 1 {
		t.Fatalf("README.md: no ```go block on the line after %q", readmeMarker)
	}
	s = s[i+len(fence):]
	j := strings.Index(s, "\n```\n")
	if j < 0 {
		t.Fatal("README.md: the Go program's block does not end")
	}
	return s[:j+1]
}

// funcBody returns the text between the braces of the function name in
// the Go source src, and the file's import paths.
func funcBody(t *testing.T, file, src, name string) (string, []string) {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.ParseComments)
	if err != nil {
		t.Fatalf("%s does not parse: %v", file, err)
	}
	var imports []string
	for _, im := range f.Imports {
		imports = append(imports, im.Path.Value)
	}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == name && fd.Recv == nil {
			return src[fset.Position(fd.Body.Lbrace).Offset+1 : fset.Position(fd.Body.Rbrace).Offset], imports
		}
	}
	t.Fatalf("%s has no func %s", file, name)
	return "", nil
}

// TestReadmeProgramIsExample: the README's program is a whole program
// (package main, func main, its imports) whose main is Example's body,
// less the Output comment, with the same imports.
func TestReadmeProgramIsExample(t *testing.T) {
	prog := readmeProgram(t)
	if !strings.HasPrefix(prog, "package main\n") {
		t.Errorf("the README's program does not start with package main:\n%s", prog)
	}
	main, progImports := funcBody(t, "README.md", prog, "main")
	ex, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	body, exImports := funcBody(t, "example_test.go", string(ex), "Example")
	i := strings.Index(body, "\t// Output:")
	if i < 0 {
		t.Fatal("Example has no // Output: comment: go test would not run it")
	}
	if body[:i] != main {
		t.Errorf("the README's main and Example differ:\nREADME:\n%s\nExample:\n%s", main, body[:i])
	}
	if !slices.Equal(progImports, exImports) {
		t.Errorf("the README's program imports %v, Example's file %v", progImports, exImports)
	}
}

// TestReadmeProgramCompiles puts the README's program in a directory of
// the module and runs go vet on it, which type-checks it against this
// module's packages (and vets it). The directory's name starts with "_",
// so ./... never sees it, should the test be killed before it removes it.
func TestReadmeProgramCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: runs go vet")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir, err := os.MkdirTemp(".", "_readme-program-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(readmeProgram(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Not -race, whatever the tests run with: CI's go vet ./... has then
	// already compiled everything it needs, and this takes a second.
	out, err := exec.Command(goCmd, "vet", "./"+filepath.Base(dir)).CombinedOutput()
	if err != nil {
		t.Fatalf("the README's program does not compile or vet clean: %v\n%s", err, out)
	}
}

// mdLink finds the targets of Markdown links, inline ([text](target)),
// reference ([name]: target) and automatic (<scheme:...>).
var mdLink = regexp.MustCompile(`\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)|(?m)^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)|<([a-zA-Z][a-zA-Z0-9+.-]*:[^>\s]+)>`)

// codeSpan matches fenced blocks and inline code, where nothing is a link.
var codeSpan = regexp.MustCompile("(?s)```.*?```|`[^`\n]*`")

// TestReadmeLinksStayInRepo: every link of the README is to a file or
// directory of the repository that exists: the documentation is here, not
// somewhere that can move or vanish.
func TestReadmeLinksStayInRepo(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := codeSpan.ReplaceAllString(string(b), "")
	n := 0
	for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
		target := m[1] + m[2] + m[3]
		n++
		if strings.Contains(target, ":") || strings.HasPrefix(target, "//") {
			t.Errorf("README.md links outside the repository: %s", target)
			continue
		}
		path, _, _ := strings.Cut(target, "#")
		if path == "" {
			continue // a heading of the README itself
		}
		if filepath.IsAbs(path) || strings.HasPrefix(filepath.Clean(path), "..") {
			t.Errorf("README.md links outside the repository: %s", target)
			continue
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("README.md links to %s, which does not exist", target)
		}
	}
	if n == 0 {
		t.Error("found no link in README.md: the link pattern is broken")
	}
}
