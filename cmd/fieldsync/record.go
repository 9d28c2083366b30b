package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
)

// The arguments' descriptions the record verbs (and the client's) share.
const (
	tableArg  = "a table of the schema (fieldsync schema prints the built-in one)"
	idArg     = "the row's id"
	valuesArg = "a column's value as text, converted to the column's type (col:=JSON for a JSON value: revenue:=50000, campaign_id:=null)"
	whereArg  = "only the rows whose column has this value (col:=JSON for a JSON value)"
)

func recordCmd() *cobra.Command {
	c := &conn{}
	call, answer := c.call, c.answer
	create := &cobra.Command{
		Use: "create TABLE col=value ...", Short: "create a row (its id is made unless given)", Args: atLeast(2),
		Annotations: arguments("TABLE", tableArg, "col=value", valuesArg),
		Example: `fieldsync record create account id=acme name="Acme Corp" industry=tools
fieldsync record create opportunity name="Acme renewal" account_id=acme revenue:=50000 --json`,
		RunE: call(func(ctx context.Context, cl *api.Client, pos []string, out io.Writer) error {
			vals, err := parseValues(pos[1:])
			if err != nil {
				return err
			}
			row, err := cl.Create(ctx, pos[0], vals)
			return answer(row, err, out)
		}),
	}
	get := &cobra.Command{
		Use: "get TABLE ID", Short: "print a row", Args: exactly(2),
		Annotations: arguments("TABLE", tableArg, "ID", idArg),
		Example:     "fieldsync record get opportunity OPPORTUNITY_ID\nfieldsync record get account acme --json",
		RunE: call(func(ctx context.Context, cl *api.Client, pos []string, out io.Writer) error {
			row, err := cl.Get(ctx, pos[0], pos[1])
			return answer(row, err, out)
		}),
	}
	update := &cobra.Command{
		Use: "update TABLE ID col=value ...", Short: "change columns of a row", Args: atLeast(3),
		Annotations: arguments("TABLE", tableArg, "ID", idArg, "col=value", valuesArg),
		Example:     "fieldsync record update opportunity OPPORTUNITY_ID stage=won campaign_id:=null",
		RunE: call(func(ctx context.Context, cl *api.Client, pos []string, out io.Writer) error {
			vals, err := parseValues(pos[2:])
			if err != nil {
				return err
			}
			row, err := cl.Update(ctx, pos[0], pos[1], vals)
			return answer(row, err, out)
		}),
	}
	g := group("record", "a connected user's records on the server: create, get, list, update, delete, files, history", "verb",
		create, get, recordList(c), update, recordDelete(c), recordBatch(c), recordAttach(c), recordFetch(c), recordHistory(c))
	g.Example = "fieldsync record list opportunity stage=prospect\nfieldsync record get account acme --server https://fieldsync.example:7070 --ca ca.pem\n" +
		"FIELDSYNC_PASSWORD=... fieldsync record create account name=Acme --user tess"
	c.register(g.PersistentFlags())
	c.registerUser(g.PersistentFlags())
	return g
}

func recordList(c *conn) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use: "list TABLE [col=value ...]", Short: "print rows: all of a table, or those with the values given", Args: atLeast(1),
		Annotations: arguments("TABLE", tableArg, "col=value", whereArg),
		Example:     "fieldsync record list opportunity stage=prospect\nfieldsync record list account --limit 500 --json",
		RunE: c.call(func(ctx context.Context, cl *api.Client, pos []string, out io.Writer) error {
			return listAll(ctx, cl, pos, limit, c.json, out)
		}),
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "`N` rows per request (default 100); every page is printed")
	return cmd
}

func recordDelete(c *conn) *cobra.Command {
	return &cobra.Command{
		Use: "delete TABLE ID", Short: "delete a row", Args: exactly(2),
		Annotations: arguments("TABLE", tableArg, "ID", idArg),
		Example:     "fieldsync record delete opportunity OPPORTUNITY_ID",
		RunE: c.call(func(ctx context.Context, cl *api.Client, pos []string, out io.Writer) error {
			if err := cl.Delete(ctx, pos[0], pos[1]); err != nil {
				return err
			}
			if c.json {
				return printJSON(out, map[string]string{"deleted": pos[1]})
			}
			_, err := fmt.Fprintf(out, "deleted %s %s\n", pos[0], pos[1])
			return err
		}),
	}
}

func recordBatch(c *conn) *cobra.Command {
	return &cobra.Command{
		Use: "batch FILE", Short: "apply several changes in one transaction: all of them or none", Args: exactly(1),
		Annotations: arguments("FILE", `a JSON file (- for standard input): {"changes": [{"op": "insert", "table": T, "values": {...}}, {"op": "update", "table": T, "id": ID, "values": {...}}, {"op": "delete", "table": T, "id": ID}]}`),
		Example: `fieldsync record batch changes.json
echo '{"changes":[{"op":"update","table":"opportunity","id":"OPP","values":{"stage":"won"}}]}' | fieldsync record batch -`,
		RunE: func(cmd *cobra.Command, pos []string) error {
			req, err := readBatch(pos[0], cmd.InOrStdin())
			if err != nil {
				return err
			}
			return c.call(func(ctx context.Context, cl *api.Client, _ []string, out io.Writer) error {
				res, err := cl.Batch(ctx, req.Changes...)
				if err != nil {
					return err
				}
				return c.print(out, res, func() {
					fmt.Fprintf(out, "applied %d changes (%d transactions logged)\n", len(res.Changes), res.Txns)
					for _, r := range res.Changes {
						fmt.Fprintf(out, "%s %s %s\n", r.Op, r.Table, r.ID)
					}
				})
			})(cmd, pos)
		},
	}
}

// readBatch reads a batch of changes from a file, or from standard input
// for "-".
func readBatch(path string, stdin io.Reader) (api.BatchRequest, error) {
	var req api.BatchRequest
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return req, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("%w: %s: not a batch of changes: %v", errUsage, path, err)
	}
	return req, nil
}

func recordAttach(c *conn) *cobra.Command {
	var mode string
	cmd := &cobra.Command{
		Use: "attach TABLE ID FILE", Short: "upload a file as a row's attachment", Args: exactly(3),
		Annotations: arguments("TABLE", "a table with a file column", "ID", idArg, "FILE", "the file to upload"),
		Example:     "fieldsync record attach attachment att1 proposal.pdf --mode published",
		RunE: c.call(func(ctx context.Context, cl *api.Client, pos []string, out io.Writer) error {
			return attachFile(ctx, cl, pos[0], pos[1], pos[2], mode, c.json, out)
		}),
	}
	cmd.Flags().StringVar(&mode, "mode", "", "how nodes get the file (`MODE`: published, requested or broadcast; default: the table's)")
	return cmd
}

func recordFetch(c *conn) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use: "fetch TABLE ID --out PATH", Short: "download a row's attachment (resumed, verified)", Args: exactly(2),
		Annotations: arguments("TABLE", "a table with a file column", "ID", idArg),
		Example:     "fieldsync record fetch attachment att1 --out copy.pdf",
		RunE: func(cmd *cobra.Command, pos []string) error {
			if out == "" {
				return fmt.Errorf("%w: record fetch TABLE ID --out PATH", errUsage)
			}
			return c.call(func(ctx context.Context, cl *api.Client, pos []string, w io.Writer) error {
				return fetchFile(ctx, cl, pos[0], pos[1], out, c.json, w)
			})(cmd, pos)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "`PATH` to write the file to (a broken download resumes from PATH.part)")
	return cmd
}

// listAll prints every page of a list.
func listAll(ctx context.Context, cl *api.Client, pos []string, limit int, asJSON bool, stdout io.Writer) error {
	where, err := parseValues(pos[1:])
	if err != nil {
		return err
	}
	rows := []map[string]any{}
	after := ""
	for {
		page, err := cl.List(ctx, pos[0], where, after, limit)
		if err != nil {
			return err
		}
		rows = append(rows, page.Rows...)
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if asJSON {
		return printJSON(stdout, rows)
	}
	printRows(stdout, rows)
	return nil
}

func recordHistory(c *conn) *cobra.Command {
	return &cobra.Command{
		Use: "history TABLE ID", Short: "print a row's latest changes: time, operation, origin, user", Args: exactly(2),
		Annotations: arguments("TABLE", tableArg, "ID", idArg),
		Example:     "fieldsync record history opportunity OPPORTUNITY_ID\nfieldsync record history account acme --json",
		RunE: c.call(func(ctx context.Context, cl *api.Client, pos []string, out io.Writer) error {
			entries, err := cl.History(ctx, pos[0], pos[1])
			if err != nil {
				return err
			}
			return c.print(out, entries, func() { printHistory(out, entries) })
		}),
	}
}

// printHistory prints a row's log entries, newest first.
func printHistory(out io.Writer, entries []fieldsync.HistoryEntry) {
	if len(entries) == 0 {
		fmt.Fprintln(out, "(no changes logged)")
		return
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "TIME\tOP\tORIGIN\tUSER")
	for _, e := range entries {
		origin, user := e.Origin, e.User
		if origin == "" {
			origin = "server"
		}
		if user == "" {
			user = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", whenMilli(e.Time), e.Op, origin, user)
	}
	tw.Flush()
}
