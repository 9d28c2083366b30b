package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The tests of the command line itself: help, flags, errors, completion
// and version, on the real binary.

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// sharedBinary is the real fieldsync binary, built once for the tests of
// this file.
func sharedBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "fieldsync-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "fieldsync")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = &buildError{err, out}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return "build: " + e.err.Error() + "\n" + string(e.out) }

// result is how one run of the binary went.
type result struct {
	code        int
	out, errout string
}

// runBin runs the binary in dir with the environment less every
// FIELDSYNC_ variable, plus env.
func runBin(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(sharedBinary(t), args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FIELDSYNC_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{out: out.String(), errout: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("fieldsync %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// allCommands is every command of the command line with its path
// ("admin node add"), groups included, the root as "".
func allCommands() map[string]*cobra.Command {
	out := map[string]*cobra.Command{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if !c.IsAvailableCommand() && c.HasParent() {
			return
		}
		if c.HasParent() {
			out[path(c)] = c
		} else {
			out[""] = c
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot(io.Discard, io.Discard))
	return out
}

// ownFlags are the long names of the flags a command defines itself (not
// those it inherits, nor help).
func ownFlags(c *cobra.Command) []string {
	var names []string
	c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" {
			names = append(names, f.Name)
		}
	})
	c.PersistentFlags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	return names
}

// listedFlags are the long names of the flags a help text lists in its
// flag sections.
func listedFlags(help string) []string {
	var names []string
	inFlags := false
	for _, line := range strings.Split(help, "\n") {
		switch {
		case strings.HasPrefix(line, "Flags"):
			inFlags = true
		case line == "" || !strings.HasPrefix(line, " "):
			inFlags = false
		case inFlags:
			if m := regexp.MustCompile(`^\s+(?:-\w, )?--([a-z-]+)`).FindStringSubmatch(line); m != nil {
				names = append(names, m[1])
			}
		}
	}
	return names
}

func siblings(c *cobra.Command) []*cobra.Command {
	if !c.HasParent() {
		return nil
	}
	return slices.DeleteFunc(slices.Clone(c.Parent().Commands()), func(s *cobra.Command) bool { return s == c })
}

// TestHelpOfEveryCommand: --help on every group and verb (and help
// COMMAND) exits 0 without a server, a node's folder or a token, and
// prints the command's use line, its positional arguments, its own flags
// and none of a sibling's, and an example.
func TestHelpOfEveryCommand(t *testing.T) {
	dir := t.TempDir()
	env := []string{"FIELDSYNC_SERVER=http://127.0.0.1:1", "FIELDSYNC_DIR=" + filepath.Join(dir, "nosuch")}
	cmds := allCommands()
	for p, c := range cmds {
		args := append(strings.Fields(p), "--help")
		r := runBin(t, dir, env, args...)
		title := strings.TrimSpace("fieldsync " + p)
		if r.code != 0 || r.errout != "" || !strings.HasPrefix(r.out, title+": ") || !strings.Contains(r.out, "\nUsage:\n") {
			t.Errorf("fieldsync %s --help: exit %d, stderr %q, stdout:\n%s", p, r.code, r.errout, r.out)
			continue
		}
		if c.Example != "" || c.HasParent() && !c.HasAvailableSubCommands() {
			if !regexp.MustCompile(`\nExamples:\n  (fieldsync|source|FIELDSYNC_)`).MatchString(r.out) {
				t.Errorf("fieldsync %s --help has no example:\n%s", p, r.out)
			}
		}
		listed := listedFlags(r.out)
		for _, f := range ownFlags(c) {
			if !slices.Contains(listed, f) {
				t.Errorf("fieldsync %s --help does not list its flag --%s:\n%s", p, f, r.out)
			}
		}
		for _, line := range strings.Split(r.out, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "-") && strings.Count(line, "default") > 1 {
				t.Errorf("fieldsync %s --help gives a default twice: %s", p, strings.TrimSpace(line))
			}
		}
		for _, f := range listed {
			if c.Flags().Lookup(f) == nil && c.InheritedFlags().Lookup(f) == nil && f != "help" {
				t.Errorf("fieldsync %s --help lists --%s, which it does not take:\n%s", p, f, r.out)
			}
		}
		for _, sib := range siblings(c) {
			for _, f := range ownFlags(sib) {
				if c.Flags().Lookup(f) == nil && slices.Contains(listed, f) {
					t.Errorf("fieldsync %s --help lists --%s, a flag of %s:\n%s", p, f, sib.Name(), r.out)
				}
			}
		}
		positionals := regexp.MustCompile(`--[a-z-]+( [A-Z_]+)?`).ReplaceAllString(strings.TrimPrefix(c.Use, c.Name()), "")
		if regexp.MustCompile(`\b[A-Z]{2,}\b`).MatchString(positionals) && !strings.Contains(r.out, "\nArguments:\n") && !c.HasAvailableSubCommands() {
			t.Errorf("fieldsync %s --help does not describe its arguments:\n%s", p, r.out)
		}
		if help := runBin(t, dir, env, append([]string{"help"}, strings.Fields(p)...)...); help.code != 0 || help.out != r.out {
			t.Errorf("fieldsync help %s: exit %d, a different text than --help:\n%s", p, help.code, help.out)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("help made files: %v", entries)
	}
	// The cases that used to go wrong.
	for _, tc := range []struct {
		args       []string
		has, lacks []string
	}{
		{[]string{"client", "--help"}, []string{"fieldsync client init", "fieldsync client attach", "fieldsync client request", "fieldsync client apply", "--watch"}, []string{"not a node's folder"}},
		{[]string{"client", "status", "--help"}, []string{"--dir", "--json"}, []string{"--mode", "--wait", "--secret"}},
		{[]string{"client", "ui", "--help"}, []string{"--dir", "--listen"}, []string{"--json"}},
		{[]string{"admin", "node", "add", "--help"}, []string{"--employee", "--server", "NAME"}, []string{"--all", "--node"}},
		{[]string{"record", "list", "--help"}, []string{"--limit", "TABLE", "col=value"}, []string{"--mode", "--out"}},
		{[]string{"server", "--help"}, []string{"--db", "--tls-cert", "--tls-key", "--router-partitions", "--router-partition", "--config", "--max-file", "--node-file-limit", "FIELDSYNC_"}, []string{"--json"}},
		{[]string{"record", "--help"}, []string{"fieldsync record fetch TABLE ID --out PATH"}, []string{"unknown verb"}},
		{[]string{"schema", "--help"}, []string{"fieldsync schema"}, []string{"fieldsync_schema: 1"}},
	} {
		r := runBin(t, dir, env, tc.args...)
		for _, want := range tc.has {
			if !strings.Contains(r.out, want) {
				t.Errorf("fieldsync %s lacks %q:\n%s", strings.Join(tc.args, " "), want, r.out)
			}
		}
		for _, not := range tc.lacks {
			if strings.Contains(r.out+r.errout, not) {
				t.Errorf("fieldsync %s says %q:\n%s%s", strings.Join(tc.args, " "), not, r.out, r.errout)
			}
		}
	}
}

// TestTopLevelHelp: fieldsync help (and --help, -h) lists every command
// with its arguments.
func TestTopLevelHelp(t *testing.T) {
	dir := t.TempDir()
	r := runBin(t, dir, nil, "help")
	for _, args := range [][]string{{"--help"}, {"-h"}} {
		if other := runBin(t, dir, nil, args...); other.code != 0 || other.out != r.out {
			t.Errorf("fieldsync %s: exit %d, not the text of fieldsync help", args[0], other.code)
		}
	}
	if r.code != 0 {
		t.Fatalf("fieldsync help: exit %d %s", r.code, r.errout)
	}
	for p, c := range allCommands() {
		if c.Runnable() && !c.HasAvailableSubCommands() && p != "" && !strings.HasPrefix(p, "completion ") {
			if want := "  fieldsync " + synopsis(c); !strings.Contains(r.out, want) {
				t.Errorf("fieldsync help does not list %q", want)
			}
		}
	}
	for _, want := range []string{"fieldsync client attach TABLE ID FILE", "fieldsync client request TABLE ID", "fieldsync client apply",
		"fieldsync client sync [--wait | --watch [--every DURATION]]", "fieldsync server [--db URL]", "--tls-cert FILE --tls-key FILE", "--router-partitions N --router-partition K",
		"fieldsync server --help lists every setting", "fieldsync completion bash|zsh|fish", "fieldsync version"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("fieldsync help lacks %q:\n%s", want, r.out)
		}
	}
}

// TestBadFlags: a bad flag value is one line naming the flag and the value
// and pointing at the command's help, exit status 2; so is a flag the
// command does not take (--json where there is nothing to print).
func TestBadFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		says []string
	}{
		{[]string{"record", "list", "account", "--limit", "abc"}, []string{"--limit", `"abc"`, "whole number", "fieldsync record list --help"}},
		{[]string{"record", "--limit=abc", "list", "account"}, []string{"--limit", `"abc"`, "fieldsync record list --help"}},
		{[]string{"admin", "conflicts", "--after", "x1"}, []string{"--after", `"x1"`, "fieldsync admin conflicts --help"}},
		{[]string{"client", "sync", "--watch", "--every", "soon"}, []string{"--every", `"soon"`, "duration", "fieldsync client sync --help"}},
		{[]string{"server", "--max-body", "lots"}, []string{"--max-body", `"lots"`, "fieldsync server --help"}},
		{[]string{"record", "list", "account", "--nope"}, []string{"unknown flag: --nope", "fieldsync record list --help"}},
		{[]string{"client", "status", "--mode", "published"}, []string{"unknown flag: --mode", "fieldsync client status --help"}},
		{[]string{"admin", "node", "add", "n1", "--employee", "e", "--all"}, []string{"unknown flag: --all"}},
		{[]string{"server", "--json"}, []string{"unknown flag: --json"}},
		{[]string{"demo", "--json"}, []string{"unknown flag: --json"}},
		{[]string{"client", "ui", "--json"}, []string{"unknown flag: --json", "fieldsync client ui --help"}},
		{[]string{"schema", "--json"}, []string{"unknown flag: --json"}},
		{[]string{"record", "get", "account", "--server"}, []string{"flag needs an argument: --server"}},
		{[]string{"server", "--data", "--help"}, []string{"--data", `"--help" is a flag, not its value`, "fieldsync server --help"}},
		{[]string{"client", "status", "--dir", "--json"}, []string{"--dir", `"--json" is a flag`}},
	} {
		r := runBin(t, dir, nil, tc.args...)
		ok := r.code == 2 && r.out == "" && strings.Count(r.errout, "\n") == 1 && strings.HasPrefix(r.errout, "fieldsync: ")
		for _, s := range tc.says {
			ok = ok && strings.Contains(r.errout, s)
		}
		if !ok {
			t.Errorf("fieldsync %s: exit %d, stdout %q, stderr %q; want exit 2 and one line saying %q", strings.Join(tc.args, " "), r.code, r.out, r.errout, tc.says)
		}
	}
}

// TestCompletion: the completion scripts of bash, zsh and fish, and the
// completions they ask the binary for.
func TestCompletion(t *testing.T) {
	dir := t.TempDir()
	for shell, marks := range map[string][]string{
		"bash": {"# bash completion V2 for fieldsync", "__start_fieldsync", "complete -o default -F __start_fieldsync fieldsync"},
		"zsh":  {"#compdef fieldsync", "compdef _fieldsync fieldsync"},
		"fish": {"# fish completion for fieldsync", "complete -c fieldsync"},
	} {
		r := runBin(t, dir, nil, "completion", shell)
		for _, m := range marks {
			if r.code != 0 || !strings.Contains(r.out, m) {
				t.Errorf("fieldsync completion %s: exit %d, lacks %q (stderr %q)", shell, r.code, m, r.errout)
			}
		}
	}
	if r := runBin(t, dir, nil, "completion", "tcsh"); r.code != 2 || !strings.Contains(r.errout, `unknown completion shell "tcsh"`) {
		t.Errorf("completion tcsh: exit %d %q", r.code, r.errout)
	}
	complete := func(args ...string) []string {
		r := runBin(t, dir, nil, append([]string{cobra.ShellCompNoDescRequestCmd}, args...)...)
		if r.code != 0 {
			t.Fatalf("complete %q: exit %d %s", args, r.code, r.errout)
		}
		return strings.Split(strings.TrimSpace(r.out), "\n")
	}
	if got := complete("record", ""); !slices.Contains(got, "create") || !slices.Contains(got, "fetch") {
		t.Errorf("completing record: %q", got)
	}
	if got := complete("client", "status", "--"); !slices.Contains(got, "--dir") || !slices.Contains(got, "--json") || slices.Contains(got, "--mode") {
		t.Errorf("completing client status --: %q", got)
	}
	if got := complete("client", "s"); !slices.Contains(got, "sync") || !slices.Contains(got, "status") || slices.Contains(got, "init") {
		t.Errorf("completing client s: %q", got)
	}
}

// TestVersionOutput: version prints what -ldflags -X main.version set,
// else what the toolchain recorded in the binary; --json, --version and
// the server's /health say the same.
func TestVersionOutput(t *testing.T) {
	dir := t.TempDir()
	r := runBin(t, dir, nil, "version")
	info, err := exec.Command("go", "version", "-m", sharedBinary(t)).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "dev"
	if m := regexp.MustCompile(`(?m)^\s+mod\s+github.com/fieldsync/fieldsync\s+(\S+)`).FindSubmatch(info); m != nil && string(m[1]) != "(devel)" {
		want = string(m[1])
	} else if m := regexp.MustCompile(`(?m)^\s+build\s+vcs.revision=(\S{12})`).FindSubmatch(info); m != nil {
		want = string(m[1])
		if bytes.Contains(info, []byte("vcs.modified=true")) {
			want += "+dirty"
		}
	}
	if r.code != 0 || r.out != "fieldsync "+want+"\n" {
		t.Errorf("version: exit %d, %q; want %q (go version -m says:\n%s)", r.code, r.out, "fieldsync "+want, info)
	}
	if v := runBin(t, dir, nil, "--version"); v.out != r.out {
		t.Errorf("--version: %q, version: %q", v.out, r.out)
	}
	var v map[string]string
	if j := runBin(t, dir, nil, "version", "--json"); json.Unmarshal([]byte(j.out), &v) != nil || v["version"] != want || !strings.HasPrefix(v["go"], "go") {
		t.Errorf("version --json: %q", j.out)
	}
	// -ldflags -X main.version wins, and the server reports it.
	bin := filepath.Join(t.TempDir(), "fieldsync")
	if out, err := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7-test", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "version").Output(); err != nil || string(out) != "fieldsync v9.8.7-test\n" {
		t.Errorf("version of a -X build: %q %v", out, err)
	}
	p := startProc(t, bin, "", "--data", filepath.Join(dir, "data"))
	var health map[string]string
	if err := getJSON("http://"+p.addr(t)+"/health", &health); err != nil || health["status"] != "ok" || health["version"] != "v9.8.7-test" {
		t.Errorf("/health: %v %v", health, err)
	}
	p.stop(t)
}

// getJSON decodes the JSON answer of a GET.
func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
