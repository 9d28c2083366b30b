package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/filestore"
	"github.com/fieldsync/fieldsync/internal/durable"
)

// attachFile uploads a file as a row's attachment.
func attachFile(ctx context.Context, cl *api.Client, table, id, path, mode string, asJSON bool, stdout io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	row, err := cl.Attach(ctx, table, id, f, filepath.Base(path), mode)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, row)
	}
	printRow(stdout, row)
	return nil
}

// fetchFile downloads a row's attachment to out: into out.part first,
// resuming a broken download from the bytes already there, verified against
// the file's hash before it takes its name.
func fetchFile(ctx context.Context, cl *api.Client, table, id, out string, asJSON bool, stdout io.Writer) error {
	part := out + ".part"
	f, err := durable.OpenAppend(part)
	if err != nil {
		return err
	}
	ref, err := cl.Fetch(ctx, table, id, f, f.Size())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fetch %s %s (run the command again to resume): %w", table, id, err)
	}
	if err := filestore.Verify(part, ref); err != nil {
		os.Remove(part)
		return fmt.Errorf("fetch %s %s: %w; the download was discarded, run the command again", table, id, err)
	}
	if err := os.Rename(part, out); err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, map[string]any{"path": out, "size": ref.Size, "sha256": ref.SHA256})
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes, sha256 %s)\n", out, ref.Size, ref.SHA256)
	return nil
}
