package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEmbed runs the example program's flow: a record each way between an
// embedded server and an embedded client.
func TestEmbed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, t.TempDir(), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server -> laptop: Acme Corp (tools)", "laptop -> server: Acme Corp (machine tools)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestEmbedProgram builds the example as the program it is and runs it.
func TestEmbedProgram(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "embed")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil {
		t.Fatalf("the example failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "laptop -> server: Acme Corp (machine tools)") {
		t.Fatalf("the example printed:\n%s", out)
	}
}
