package client_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// TestTLS: a server serving HTTPS with a certificate an in-house authority
// signed is reached by clients told to trust that authority, and refused
// by the others with a clear error.
func TestTLS(t *testing.T) { testutil.ForBackends(t, testTLS) }

func testTLS(t *testing.T, b testutil.Backend) {
	certFile, keyFile := testutil.TLSFiles(t)
	ca, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorldWith(t, b, nil, func(c *server.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	if !strings.HasPrefix(w.url, "https://") {
		t.Fatalf("server URL %s", w.url)
	}
	ctx := context.Background()
	if _, err := w.api.Get(ctx, "account", "x"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a connected user not trusting the authority: %v", err)
	}
	if w.api.HTTP, err = api.HTTPClient(string(ca)); err != nil {
		t.Fatal(err)
	}
	w.ca = string(ca)
	ann, _, opp := base(t, w) // nodes made over HTTPS
	w.create("contact", map[string]any{"id": "k1", "account_id": "acme"})
	w.settle()
	syncWait(t, ann)
	if _, ok := has(t, ann, "contact", "k1"); !ok {
		t.Fatal("the contact did not come over HTTPS")
	}
	apply(t, ann, fieldsync.Update("opportunity", opp, map[string]any{"stage": "won"}))
	roundTrip(t, w, ann)
	if row, err := w.api.Get(ctx, "opportunity", opp); err != nil || row["stage"] != "won" {
		t.Fatalf("ann's change over HTTPS: %v %v", row, err)
	}

	// The folder keeps the authority: reopened, it still syncs.
	dir := annDir(t, ann)
	ann.Close()
	again, err := client.Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	syncWait(t, again)

	added, err := w.api.AddNode(ctx, "cy-laptop", "bob")
	if err != nil {
		t.Fatal(err)
	}
	cfg := client.Config{Dir: filepath.Join(t.TempDir(), "cy"), Server: w.url, Node: "cy-laptop", Secret: added.Secret}
	if _, err := client.Init(ctx, cfg); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a node not trusting the authority: %v", err)
	}
	bad := cfg
	bad.Dir, bad.CACert = filepath.Join(t.TempDir(), "bad"), "not a certificate"
	if _, err := client.Init(ctx, bad); !errors.Is(err, fieldsync.ErrInvalid) {
		t.Fatalf("a CA that is no certificate: %v", err)
	}
	if _, err := os.Stat(bad.Dir); err == nil {
		t.Fatal("a refused init left a folder behind")
	}
	plain := cfg
	plain.Dir, plain.Server = filepath.Join(t.TempDir(), "plain"), "http://"+strings.TrimPrefix(w.url, "https://")
	if _, err := client.Init(ctx, plain); err == nil {
		t.Fatal("plain HTTP to the HTTPS server worked")
	}
	cfg.CACert = string(ca)
	cy, err := client.Init(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cy.Close()
	syncWait(t, cy)
}

// TestTLSConfigRefused: a server given half a TLS configuration or a bad
// certificate does not start.
func TestTLSConfigRefused(t *testing.T) {
	certFile, keyFile := testutil.TLSFiles(t)
	ctx := context.Background()
	for _, c := range []struct{ cert, key, want string }{
		{certFile, "", "needs both"},
		{"", keyFile, "needs both"},
		{keyFile, certFile, "TLS certificate"},
		{filepath.Join(t.TempDir(), "none.crt"), keyFile, "no such file"},
	} {
		_, err := server.Open(ctx, server.Config{DataDir: t.TempDir(), TLSCert: c.cert, TLSKey: c.key})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("cert %q key %q: %v, want an error saying %q", c.cert, c.key, err, c.want)
		}
	}
}
