package client_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/internal/testutil"
)

// TestFailedInitLeavesNoFolder: a client init that fails (a wrong secret,
// a server that does not answer, a folder it cannot finish) removes the
// folders it made, the missing parents of DIR too, and the files it put in
// a folder that was there already, which stays with what it held.
func TestFailedInitLeavesNoFolder(t *testing.T) {
	w := newWorld(t, testutil.Backends[0])
	ctx := context.Background()
	w.create("employee", map[string]any{"id": "bob", "name": "Bob Road", "login": "bob"})
	added, err := w.api.AddNode(ctx, "bob-laptop", "bob")
	if err != nil {
		t.Fatal(err)
	}
	closed := closedURL(t)
	root := t.TempDir()
	existing := filepath.Join(root, "existing")
	if err := os.Mkdir(existing, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(existing, "notes.txt"), []byte("mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, dir, server, secret string }{
		{"wrong secret", filepath.Join(root, "sub", "deep", "bob"), w.url, "not-the-secret"},
		{"server unreachable", filepath.Join(root, "bob"), closed, added.Secret},
		{"existing folder", existing, w.url, "not-the-secret"},
	} {
		_, err := client.Init(ctx, client.Config{Dir: c.dir, Server: c.server, Node: "bob-laptop", Secret: c.secret})
		if err == nil {
			t.Fatalf("%s: client init succeeded", c.name)
		}
		if got := listDir(t, root); !slices.Equal(got, []string{"existing"}) {
			t.Errorf("%s (%v): %s holds %v after the failed init, want only the folder that was there", c.name, err, root, got)
		}
		if got := listDir(t, existing); !slices.Equal(got, []string{"notes.txt"}) {
			t.Errorf("%s: the existing folder holds %v, want only notes.txt", c.name, got)
		}
	}

	// An init that fails after the local database is in place (node.json
	// cannot be written) removes it: the next init is not refused.
	if err := os.Mkdir(filepath.Join(existing, "node.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Init(ctx, client.Config{Dir: existing, Server: w.url, Node: "bob-laptop", Secret: added.Secret}); err == nil {
		t.Fatal("client init wrote node.json over a folder")
	}
	if got := listDir(t, existing); !slices.Equal(got, []string{"node.json", "notes.txt"}) {
		t.Fatalf("the existing folder holds %v after the failed init, want what it held", got)
	}
	if err := os.Remove(filepath.Join(existing, "node.json")); err != nil {
		t.Fatal(err)
	}
	c, err := client.Init(ctx, client.Config{Dir: existing, Server: w.url, Node: "bob-laptop", Secret: added.Secret})
	if err != nil {
		t.Fatalf("client init after a failed one: %v", err)
	}
	c.Close()
}

// closedURL is the URL of a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}
