// Command embed is a program that embeds a fieldsync server and a remote
// client in one process: it starts the server on a loopback port,
// registers a node in-process, starts the node's local database from its
// Database Extract, and syncs a record each way: a connected user's account
// reaches the laptop, and the laptop's offline edit reaches the server.
//
//	go run ./examples/embed
//
// It works in a temporary folder and removes it when done.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/server"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "fieldsync-embed-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := run(ctx, dir, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run is the whole example: everything it makes lives under dir.
func run(ctx context.Context, dir string, out io.Writer) error {
	// The server: every component in this process, the embedded SQLite
	// database, no token file (the program administers it in-process).
	srv, err := server.Open(ctx, server.Config{DataDir: filepath.Join(dir, "server"), NoTokenFile: true})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			log.Print(err)
		}
	}()

	// A connected user's data, and a node for Ann's laptop.
	adm := srv.Admin()
	for _, r := range []struct {
		table string
		vals  map[string]any
	}{
		{"employee", map[string]any{"id": "ann", "name": "Ann Field", "login": "ann"}},
		{"position", map[string]any{"id": "pos-east", "name": "Sales East", "employee_id": "ann"}},
		{"account", map[string]any{"id": "acme", "name": "Acme Corp", "industry": "tools"}},
		{"account_team", map[string]any{"id": "acme-east", "account_id": "acme", "position_id": "pos-east"}},
	} {
		if _, err := adm.Create(ctx, r.table, r.vals); err != nil {
			return err
		}
	}
	added, err := adm.AddNode(ctx, "ann-laptop", "ann")
	if err != nil {
		return err
	}
	if added.ExtractErr != nil {
		return added.ExtractErr
	}

	// The laptop: its folder starts from the node's Database Extract.
	laptop, err := client.Init(ctx, client.Config{Dir: filepath.Join(dir, "ann-laptop"),
		Server: "http://" + ln.Addr().String(), Node: "ann-laptop", Secret: added.Secret})
	if err != nil {
		return err
	}
	defer laptop.Close()
	acme, err := laptop.Get(ctx, "account", "acme")
	if err != nil {
		return fmt.Errorf("the laptop does not have the account: %w", err)
	}
	fmt.Fprintf(out, "server -> laptop: %s (%s)\n", acme["name"], acme["industry"])

	// Offline, Ann edits the account; her next sync takes it up.
	if _, err := laptop.Apply(ctx, fieldsync.Update("account", "acme", map[string]any{"industry": "machine tools"})); err != nil {
		return err
	}
	if _, err := laptop.Sync(ctx, client.SyncOptions{Apply: true}); err != nil {
		return err
	}
	if err := srv.WaitIdle(ctx); err != nil {
		return err
	}
	row, err := adm.Get(ctx, "account", "acme")
	if err != nil {
		return err
	}
	if row["industry"] != "machine tools" {
		return errors.New("the laptop's edit did not reach the server")
	}
	fmt.Fprintf(out, "laptop -> server: %s (%s)\n", row["name"], row["industry"])
	return nil
}
