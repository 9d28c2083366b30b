package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestServerSettingsPrecedence: a server setting comes from its flag, else
// its environment variable, else the settings file, else the default; a
// bad value is one line naming where it came from. (--trusted-proxy is
// checked before the server opens anything, so a bad one shows which
// source won at once.)
func TestServerSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "fieldsync.yaml")
	write := func(text string) {
		if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("# the server's settings\ntrusted-proxy: 10.0.0.1/99\n")
	for _, tc := range []struct {
		env  []string
		args []string
		says string
	}{
		{nil, []string{"--config", config}, `"10.0.0.1/99"`},
		{[]string{"FIELDSYNC_CONFIG=" + config}, nil, `"10.0.0.1/99"`},
		{[]string{"FIELDSYNC_TRUSTED_PROXY=10.0.0.2/99"}, []string{"--config", config}, `"10.0.0.2/99"`},
		{[]string{"FIELDSYNC_TRUSTED_PROXY=10.0.0.2/99"}, []string{"--config", config, "--trusted-proxy", "10.0.0.3/99"}, `"10.0.0.3/99"`},
		{[]string{"FIELDSYNC_TRUSTED_PROXY="}, []string{"--config", config}, `"10.0.0.1/99"`}, // empty: unset
		{[]string{"FIELDSYNC_MAX_BODY=lots"}, nil, `FIELDSYNC_MAX_BODY: "lots" is not a whole number (the server's --max-body)`},
		{[]string{"FIELDSYNC_KEEP_SESSIONS=forever"}, nil, `FIELDSYNC_KEEP_SESSIONS: "forever" is not a duration`},
	} {
		r := runBin(t, dir, tc.env, append([]string{"server"}, tc.args...)...)
		if r.code != 2 || strings.Count(r.errout, "\n") != 1 || !strings.Contains(r.errout, tc.says) {
			t.Errorf("server %v with %v: exit %d, %q; want exit 2 and one line saying %s", tc.args, tc.env, r.code, r.errout, tc.says)
		}
	}
	for text, says := range map[string]string{
		"listen: 127.0.0.1:0\nmax-body: lots\n": config + `:2: max-body: "lots" is not a whole number`,
		"listen: 127.0.0.1:0\nlisten-on: x\n":   config + `:2: unknown setting "listen-on"`,
		"- data\n- db\n":                        config + `:1: the settings file holds lines of flag-name: value`,
		"only: {api: yes}\n":                    config + `:1: only: the value must be text`,
		"data: [a\n":                            config + `: yaml: `,
	} {
		write(text)
		r := runBin(t, dir, nil, "server", "--config", config)
		if r.code != 2 || strings.Count(r.errout, "\n") != 1 || !strings.Contains(r.errout, says) {
			t.Errorf("settings file %q: exit %d, %q; want exit 2 and one line saying %s", text, r.code, r.errout, says)
		}
	}
	if r := runBin(t, dir, nil, "server", "--config", filepath.Join(dir, "nosuch.yaml")); r.code != 1 || !strings.Contains(r.errout, "nosuch.yaml: no such file") {
		t.Errorf("a missing settings file: exit %d, %q", r.code, r.errout)
	}
}

// TestServerSettingsApply: settings from the file, the environment and the
// flags reach the running server, with the same precedence.
func TestServerSettingsApply(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "fieldsync.yaml")
	text := fmt.Sprintf("data: %s\nlisten: 127.0.0.1:0\nonly: [api, sync]\nverbose: true\n", filepath.Join(dir, "from-file"))
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  []string
		args []string
		data string
	}{
		{nil, nil, "from-file"},
		{[]string{"FIELDSYNC_DATA=" + filepath.Join(dir, "from-env")}, nil, "from-env"},
		{[]string{"FIELDSYNC_DATA=" + filepath.Join(dir, "from-env")}, []string{"--data", filepath.Join(dir, "from-flag")}, "from-flag"},
	} {
		line, log := startServerLine(t, dir, append(tc.env, "FIELDSYNC_CONFIG="+config), tc.args...)
		want := fmt.Sprintf(`^fieldsync server listening on http://127\.0\.0\.1:\d+ \(data %s, `, regexp.QuoteMeta(filepath.Join(dir, tc.data)))
		if !regexp.MustCompile(want).MatchString(line) {
			t.Errorf("server with %v %v said %q, want data %s", tc.env, tc.args, line, tc.data)
		}
		if !strings.Contains(log, "level=DEBUG") || strings.Contains(log, "Transaction Processor lock") {
			t.Errorf("the file's verbose and only settings did not apply; log:\n%s", log)
		}
	}
}

// startServerLine starts a server binary, returns the line it announces
// itself with and what it logged, and stops it.
func startServerLine(t *testing.T, dir string, env []string, args ...string) (line, log string) {
	t.Helper()
	cmd := exec.Command(sharedBinary(t), append([]string{"server"}, args...)...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Scan()
		lines <- sc.Text()
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line = <-lines:
	case <-time.After(20 * time.Second):
		line = "(nothing within 20 s)"
	}
	if m := regexp.MustCompile(`listening on (http://\S+) `).FindStringSubmatch(line); m != nil {
		var health map[string]string
		getJSON(m[1]+"/health", &health) // a request the API logs at debug level
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Errorf("server %v: %v\n%s", args, err, logs.String())
	}
	return line, logs.String()
}

// TestREADMEListsServerSettings: the README's table of server settings has
// a row for every flag of fieldsync server, with its environment variable,
// and no row for a flag it does not have.
func TestREADMEListsServerSettings(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ env, def string }
	rows := map[string]row{}
	for _, m := range regexp.MustCompile("(?m)^\\| `--([a-z-]+)[^`]*`[^|]* \\| `(FIELDSYNC_[A-Z_]+)` \\| ([^|]+) \\|").FindAllStringSubmatch(string(readme), -1) {
		rows[m[1]] = row{m[2], strings.Trim(strings.Fields(m[3])[0], "`:")}
	}
	srv := subcommand(newRoot(io.Discard, io.Discard), "server")
	srv.Flags().VisitAll(func(f *pflag.Flag) {
		r, ok := rows[f.Name]
		if !ok || r.env != envName(f.Name) {
			t.Errorf("README: no row | `--%s ...` | `%s` | in the table of server settings", f.Name, envName(f.Name))
		}
		delete(rows, f.Name)
		if want, err := time.ParseDuration(f.DefValue); err == nil {
			if got, err := time.ParseDuration(r.def); err != nil || got != want {
				t.Errorf("README: --%s defaults to %s, not %s", f.Name, f.DefValue, r.def)
			}
		} else if ok && f.DefValue != "" && f.DefValue != "-1" && r.def != f.DefValue {
			t.Errorf("README: --%s defaults to %s, not %s", f.Name, f.DefValue, r.def)
		}
	})
	for name := range rows {
		t.Errorf("README: the table of server settings lists --%s, which fieldsync server does not have", name)
	}
}

// TestFlagKindsAgree: a flag name means the same kind of flag (one that
// takes a value, or one that stands alone) in every command, so that the
// command line can be read before the command is known (commandFirst).
func TestFlagKindsAgree(t *testing.T) {
	kinds := map[string]bool{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.LocalFlags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) {
				v := f.NoOptDefVal == ""
				if k, ok := kinds[f.Name]; ok && k != v {
					t.Errorf("--%s takes a value in one command and not in another (%s)", f.Name, c.CommandPath())
				}
				kinds[f.Name] = v
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot(io.Discard, io.Discard))
}
