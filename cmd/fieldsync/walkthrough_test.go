package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// docBlock is one shell block of a document: the terminal it runs in, and
// whether it first stops another terminal's command with Ctrl-C.
type docBlock struct {
	terminal int
	stops    int // the terminal to interrupt first (0: none)
	script   string
}

var (
	terminalRE = regexp.MustCompile(`^# terminal (\d+)`)
	stopsRE    = regexp.MustCompile(`after Ctrl-C in terminal (\d+)`)
	fenceRE    = regexp.MustCompile("(?s)```sh\n(.*?)```")
)

// walkthroughBlocks are the shell blocks of the README's Walkthrough
// section, in order. Each must say on its first line which terminal it
// runs in.
func walkthroughBlocks(t *testing.T) []docBlock {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "\n## Walkthrough\n")
	if start < 0 {
		t.Fatal("README.md has no Walkthrough section")
	}
	section := text[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	var blocks []docBlock
	for _, m := range fenceRE.FindAllStringSubmatch(section, -1) {
		first, _, _ := strings.Cut(m[1], "\n")
		tm := terminalRE.FindStringSubmatch(first)
		if tm == nil {
			t.Fatalf("a Walkthrough block does not say its terminal on its first line: %q", first)
		}
		b := docBlock{script: m[1]}
		b.terminal, _ = strconv.Atoi(tm[1])
		if sm := stopsRE.FindStringSubmatch(first); sm != nil {
			b.stops, _ = strconv.Atoi(sm[1])
		}
		blocks = append(blocks, b)
	}
	if len(blocks) < 3 {
		t.Fatalf("the Walkthrough has %d shell blocks, want the server's and the commands'", len(blocks))
	}
	return blocks
}

// terminal is a block running in the background (the server, a watch).
type terminal struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

// interrupt sends Ctrl-C to the terminal's processes and waits for them.
func (tm *terminal) interrupt(t *testing.T) {
	t.Helper()
	syscall.Kill(-tm.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-tm.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30 s after Ctrl-C:\n%s", tm.out.String())
	}
}

// TestWalkthrough runs the README's Walkthrough as a reader would: the
// real binary on PATH, an empty home folder, the blocks in order, each in
// its terminal (the server and the watch in the background), the port
// the server took in place of 7070. Then it checks what the walkthrough
// says happened did happen.
func TestWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the Walkthrough uses jq, which is not installed")
		}
		t.Skip("the Walkthrough uses jq, which is not installed")
	}
	bin := sharedBinary(t)
	home := t.TempDir()
	env := append(os.Environ(), "HOME="+home, "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"FIELDSYNC_LISTEN=127.0.0.1:0", "FIELDSYNC_SERVER=", "FIELDSYNC_DIR=", "FIELDSYNC_TOKEN=", "FIELDSYNC_DB=",
		"FIELDSYNC_DATA=", "FIELDSYNC_CONFIG=")
	running := map[int]*terminal{}
	t.Cleanup(func() {
		for _, tm := range running {
			syscall.Kill(-tm.cmd.Process.Pid, syscall.SIGKILL)
			<-tm.done
		}
	})
	addr := ""
	state := filepath.Join(t.TempDir(), "terminal-2")
	var said bytes.Buffer
	for i, b := range walkthroughBlocks(t) {
		script := b.script
		if addr != "" {
			script = strings.ReplaceAll(script, "127.0.0.1:7070", addr)
		}
		if b.stops != 0 {
			tm := running[b.stops]
			if tm == nil {
				t.Fatalf("block %d stops terminal %d, which runs nothing", i+1, b.stops)
			}
			tm.interrupt(t)
			if tm.cmd.ProcessState.ExitCode() != 0 {
				t.Fatalf("terminal %d ended with %v after Ctrl-C:\n%s", b.stops, tm.cmd.ProcessState, tm.out.String())
			}
			delete(running, b.stops)
		}
		if b.terminal == 2 {
			script = keepTerminal(state, script)
		}
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Env, cmd.Dir = env, home
		if b.terminal == 2 {
			out, err := cmd.CombinedOutput()
			said.Write(out)
			if err != nil {
				t.Fatalf("walkthrough block %d (terminal 2): %v\n%s", i+1, err, out)
			}
			continue
		}
		tm := &terminal{cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
		cmd.Stdout, cmd.Stderr = tm.out, tm.out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { cmd.Wait(); close(tm.done) }()
		running[b.terminal] = tm
		if addr == "" {
			addr = waitListening(t, tm)
		} else {
			waitSaid(t, tm) // what follows may interrupt it: it must be running by then
		}
	}
	dir := filepath.Join(home, "fieldsync-walkthrough")
	checkWalkthrough(t, dir, said.String())
	get := exec.Command(bin, "record", "get", "opportunity", "acme-renewal", "--json", "--server", addr)
	get.Dir, get.Env = dir, env
	out, err := get.Output()
	var opp struct{ Stage string }
	if err == nil {
		err = json.Unmarshal(out, &opp)
	}
	if err != nil || opp.Stage != "negotiation" {
		t.Errorf("the server's opportunity after the walkthrough (%v): %s, want Ann's stage negotiation", err, out)
	}
	for n, tm := range running {
		tm.interrupt(t)
		if tm.cmd.ProcessState.ExitCode() != 0 {
			t.Errorf("terminal %d ended with %v after Ctrl-C:\n%s", n, tm.cmd.ProcessState, tm.out.String())
		}
		delete(running, n)
	}
}

// waitListening waits for the server's line saying where it listens.
func waitListening(t *testing.T, tm *terminal) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if m := listeningRE.FindStringSubmatch(tm.out.String()); m != nil {
			return m[1]
		}
		select {
		case <-tm.done:
			t.Fatalf("the server block ended:\n%s", tm.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("the server did not say where it listens:\n%s", tm.out.String())
	return ""
}

// keepTerminal makes a block carry on in the folder and with the
// variables a terminal's earlier block left it, as a reader's terminal does.
func keepTerminal(state, script string) string {
	return fmt.Sprintf("if [ -f %[1]s.env ]; then . %[1]s.env; cd \"$(cat %[1]s.dir)\"; fi\n%[2]s\nexport -p > %[1]s.env; pwd > %[1]s.dir\n",
		state, script)
}

// waitSaid waits for a background block's first output.
func waitSaid(t *testing.T, tm *terminal) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for tm.out.String() == "" {
		if time.Now().After(deadline) {
			t.Fatal("a background block said nothing for 60 s")
		}
		select {
		case <-tm.done:
			t.Fatalf("a background block ended:\n%s", tm.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkWalkthrough checks what the walkthrough's text says happened.
func checkWalkthrough(t *testing.T, dir, said string) {
	t.Helper()
	for _, pair := range [][2]string{
		{"proposal.txt", "proposal-copy.txt"}, // the server's file, fetched back
		{"proposal.txt", "ann-proposal.txt"},  // a published file on Ann's laptop
		{"contract.txt", "ann-contract.txt"},  // a requested one, after she asked
		{"notes.txt", "server-notes.txt"},     // Ann's file on the server
	} {
		want, err := os.ReadFile(filepath.Join(dir, pair[0]))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, pair[1]))
		if err != nil {
			t.Fatalf("the walkthrough made no %s: %v", pair[1], err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s holds %q, want %s's %q", pair[1], got, pair[0], want)
		}
	}
	// client list showed the opportunity the router sent Ann.
	if !strings.Contains(said, "Acme renewal") {
		t.Errorf("the walkthrough's output lacks the opportunity:\n%s", said)
	}
	if _, err := os.Stat(filepath.Join(dir, "fieldsync-data", "docking", "ann-laptop")); !os.IsNotExist(err) {
		t.Errorf("admin node delete left the node's docking folder (%v)", err)
	}
}
