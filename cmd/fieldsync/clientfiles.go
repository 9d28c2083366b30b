package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/filestore"
	"github.com/fieldsync/fieldsync/internal/durable"
)

// clientFiles groups the verbs on the attachment files a node's folder
// holds.
func clientFiles(f *clientFlags) *cobra.Command {
	g := group("files", "the attachment files in the node's folder", "verb", clientFileGet(f))
	g.Example = "fieldsync client files get attachment ATTACHMENT_ID --out proposal.pdf --dir ann"
	return g
}

func clientFileGet(f *clientFlags) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use: "get TABLE ID --out PATH", Short: "copy a row's attachment file out of the node's folder", Args: exactly(2),
		Annotations: arguments("TABLE", "a table with a file column", "ID", idArg),
		Example:     "fieldsync client files get attachment ATTACHMENT_ID --out proposal.pdf --dir ann",
	}
	cmd.Flags().StringVar(&out, "out", "", "write the file to `PATH` (needed)")
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		if out == "" {
			return fmt.Errorf("%w: client files get TABLE ID --out PATH", errUsage)
		}
		return f.open(func(ctx context.Context, c *client.Client, pos []string, stdout io.Writer) error {
			ref, err := localFile(ctx, c, pos[0], pos[1])
			if err != nil {
				return err
			}
			if err := copyVerified(c.FilePath(ref), out, ref); err != nil {
				return fmt.Errorf("copy the file of %s %s: %w", pos[0], pos[1], err)
			}
			return f.print(stdout, map[string]any{"path": out, "size": ref.Size, "sha256": ref.SHA256}, func() {
				fmt.Fprintf(stdout, "wrote %s (%d bytes, sha256 %s)\n", out, ref.Size, ref.SHA256)
			})
		})(cmd, pos)
	}
	return cmd
}

// localFile is the reference of a local row's file, when the file is in
// the node's folder; otherwise an error saying why not and what to do.
func localFile(ctx context.Context, c *client.Client, table, id string) (fieldsync.FileRef, error) {
	t, err := c.Store().Schema().LookupTable(table)
	if err != nil {
		return fieldsync.FileRef{}, err
	}
	col := t.FileColumn()
	if col == nil {
		return fieldsync.FileRef{}, fieldsync.Errorf(fieldsync.ErrInvalid, "table %s carries no files", table)
	}
	row, err := c.Get(ctx, table, id)
	if err != nil {
		return fieldsync.FileRef{}, err
	}
	v, _ := row[col.Name].(string)
	if v == "" {
		return fieldsync.FileRef{}, fieldsync.Errorf(fieldsync.ErrNotFound, "%s %s has no file", table, id)
	}
	ref, err := fieldsync.ParseFileRef(v)
	if err != nil {
		return ref, err
	}
	if _, err := os.Stat(c.FilePath(ref)); err == nil {
		return ref, nil
	} else if !os.IsNotExist(err) {
		return ref, err
	}
	return ref, notHereYet(ctx, c, table, id, row)
}

// notHereYet says why a row's file is not in the node's folder yet.
func notHereYet(ctx context.Context, c *client.Client, table, id string, row fieldsync.Row) error {
	if row[fieldsync.ModeColumn] == fieldsync.ModeRequested {
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		if !slices.Contains(st.Requested, table+"/"+id) {
			return fieldsync.Errorf(fieldsync.ErrNotFound,
				"the file of %s %s is not in the node's folder: it comes only on request (fieldsync client request %s %s, then client sync)", table, id, table, id)
		}
		return fieldsync.Errorf(fieldsync.ErrNotFound, "the file of %s %s is not in the node's folder yet: it was requested and comes at the next sync (fieldsync client sync)", table, id)
	}
	return fieldsync.Errorf(fieldsync.ErrNotFound, "the file of %s %s is not in the node's folder yet: it comes at the next sync (fieldsync client sync)", table, id)
}

// copyVerified copies the kept file src to dst, appearing there whole or
// not at all, and checks the copy against ref.
func copyVerified(src, dst string, ref fieldsync.FileRef) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	af, err := durable.Create(filepath.Dir(dst), filepath.Base(dst))
	if err != nil {
		return err
	}
	defer af.Abort()
	if _, err := io.Copy(af, in); err != nil {
		return err
	}
	if err := filestore.Verify(af.TempPath(), ref); err != nil {
		return fmt.Errorf("the node's copy is damaged: %w", err)
	}
	return af.Commit()
}
