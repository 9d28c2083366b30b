package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDemo runs the narrated demo and checks that it tells the story with
// real outcomes, and cleans up after itself.
func TestDemo(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"demo"}, &out, &errb); code != 0 {
		t.Fatalf("demo exit %d: %s\n%s", code, errb.String(), out.String())
	}
	text := out.String()
	for _, want := range []string{
		"ann-laptop: downloaded",
		"sees the opportunity: true",
		"bob-laptop: downloaded 1 file(s)",
		"sees the opportunity: false",
		"on the server the opportunity's stage is now negotiation",
		"the server's value 60000 won over Ann's 45000",
		"Ann's laptop converged: revenue 60000, stage negotiation",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	dir := regexp.MustCompile(`temporary folder \((\S+)\)`).FindStringSubmatch(text)
	if dir == nil {
		t.Fatalf("demo did not name its folder:\n%s", text)
	}
	if _, err := os.Stat(dir[1]); !os.IsNotExist(err) {
		t.Errorf("demo folder %s left behind (%v)", dir[1], err)
	}
}
