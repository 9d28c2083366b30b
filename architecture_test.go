package fieldsync_test

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/fieldsync/fieldsync"

// flow are the components of the synchronization flow: each is reached
// through the interfaces of the root package and the shared contracts
// (dx, docking, syncproto, localdb), never through another component.
var flow = []string{"txnproc", "router", "extract", "merger", "syncmgr", "api", "status", "filestore"}

// backends are the packages that know which database is in use.
var backends = []string{"sqlite", "postgres", "internal/sqlstore"}

// goList runs go list in the module and returns its output lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// imports maps each package of the module (relative path, "" for the root)
// to the module packages its non-test files import.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, l := range goList(t, "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...") {
		fields := strings.Fields(l)
		pkg := rel(fields[0])
		out[pkg] = nil
		for _, imp := range fields[1:] {
			if imp == module || strings.HasPrefix(imp, module+"/") {
				out[pkg] = append(out[pkg], rel(imp))
			}
		}
	}
	return out
}

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

// TestFlowComponentsStayApart checks that no component of the flow imports
// another: what two of them share has an owner package of its own.
func TestFlowComponentsStayApart(t *testing.T) {
	for pkg, imps := range imports(t) {
		if !slices.Contains(flow, pkg) {
			continue
		}
		for _, imp := range imps {
			if slices.Contains(flow, imp) {
				t.Errorf("component %s imports component %s", pkg, imp)
			}
		}
	}
}

// TestRemoteClientLinksNoServer checks that the remote client is built
// without any server component.
func TestRemoteClientLinksNoServer(t *testing.T) {
	for _, dep := range goList(t, "-deps", "./client") {
		r := rel(dep)
		if !strings.HasPrefix(dep, module) {
			continue
		}
		if slices.Contains(flow, r) || r == "server" || slices.Contains([]string{"postgres"}, r) {
			t.Errorf("the remote client links %s", r)
		}
	}
}

// TestOnlyOwnersNameABackend checks that only the server, the command line
// and the node's local database know which database is in use (besides the
// backends themselves and the test kits).
func TestOnlyOwnersNameABackend(t *testing.T) {
	allowed := []string{"server", "cmd/fieldsync", "localdb", "internal/testutil", "internal/storetest"}
	for pkg, imps := range imports(t) {
		if slices.Contains(allowed, pkg) || slices.Contains(backends, pkg) {
			continue
		}
		for _, imp := range imps {
			if slices.Contains(backends, imp) {
				t.Errorf("%s names the database backend %s", pkg, imp)
			}
		}
	}
}

// Size limits of non-test code: a function longer than maxFuncLines or a
// file longer than maxFileLines must say why in its doc comment (a function)
// or its first comment (a file), with the words "long because".
const (
	maxFuncLines = 80
	maxFileLines = 500
)

func TestCodeSize(t *testing.T) {
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		lines := fset.File(f.Pos()).LineCount()
		if lines > maxFileLines && !explained(firstComment(f)) {
			t.Errorf("%s: %d lines (over %d; split it, or say in its first comment why it is long because ...)", path, lines, maxFileLines)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1
			if n > maxFuncLines && !explained(fn.Doc) {
				t.Errorf("%s: func %s is %d lines (over %d)", path, fn.Name.Name, n, maxFuncLines)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func firstComment(f *ast.File) *ast.CommentGroup {
	if len(f.Comments) == 0 {
		return nil
	}
	return f.Comments[0]
}

func explained(c *ast.CommentGroup) bool {
	return c != nil && strings.Contains(strings.Join(strings.Fields(c.Text()), " "), "long because")
}
