package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
)

// The record verbs on a node's local database: writes go through the local
// write path and up to the server at the next sync.

func localGet(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use: "get TABLE ID", Short: "print a local row", Args: exactly(2),
		Annotations: arguments("TABLE", tableArg, "ID", idArg),
		Example:     "fieldsync client get opportunity OPPORTUNITY_ID --dir ann",
		RunE: f.open(func(ctx context.Context, c *client.Client, pos []string, out io.Writer) error {
			r, err := c.Get(ctx, pos[0], pos[1])
			if err != nil {
				return err
			}
			return f.print(out, r, func() { printRow(out, r) })
		}),
	}
}

func localList(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use: "list TABLE [col=value ...]", Short: "print local rows: all of a table, or those with the values given", Args: atLeast(1),
		Annotations: arguments("TABLE", tableArg, "col=value", whereArg),
		Example:     "fieldsync client list opportunity --dir ann\nfieldsync client list opportunity stage=prospect --dir ann --json",
		RunE: f.open(func(ctx context.Context, c *client.Client, pos []string, out io.Writer) error {
			where, err := parseValues(pos[1:])
			if err != nil {
				return err
			}
			rows := []map[string]any{}
			err = fieldsync.Each(ctx, c, pos[0], fieldsync.Query{Where: where}, func(r fieldsync.Row) error {
				rows = append(rows, r)
				return nil
			})
			if err != nil {
				return err
			}
			return f.print(out, rows, func() { printRows(out, rows) })
		}),
	}
}

func localCreate(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use: "create TABLE col=value ...", Short: "create a local row (sent at the next sync)", Args: atLeast(2),
		Annotations: arguments("TABLE", tableArg, "col=value", valuesArg),
		Example:     "fieldsync client create account name=\"Acme Corp\" --dir ann",
		RunE: f.open(func(ctx context.Context, c *client.Client, pos []string, out io.Writer) error {
			vals, err := parseValues(pos[1:])
			if err != nil {
				return err
			}
			return localWrite(ctx, c, f, fieldsync.Insert(pos[0], vals), out)
		}),
	}
}

func localUpdate(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use: "update TABLE ID col=value ...", Short: "change a local row (sent at the next sync)", Args: atLeast(3),
		Annotations: arguments("TABLE", tableArg, "ID", idArg, "col=value", valuesArg),
		Example:     "fieldsync client update opportunity OPPORTUNITY_ID stage=negotiation --dir ann",
		RunE: f.open(func(ctx context.Context, c *client.Client, pos []string, out io.Writer) error {
			vals, err := parseValues(pos[2:])
			if err != nil {
				return err
			}
			return localWrite(ctx, c, f, fieldsync.Update(pos[0], pos[1], vals), out)
		}),
	}
}

func localDelete(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use: "delete TABLE ID", Short: "delete a local row (sent at the next sync)", Args: exactly(2),
		Annotations: arguments("TABLE", tableArg, "ID", idArg),
		Example:     "fieldsync client delete opportunity OPPORTUNITY_ID --dir ann",
		RunE: f.open(func(ctx context.Context, c *client.Client, pos []string, out io.Writer) error {
			txns, err := c.Apply(ctx, fieldsync.Delete(pos[0], pos[1]))
			if err != nil {
				return err
			}
			return f.print(out, map[string]any{"deleted": pos[1], "rows": len(txns)}, func() {
				fmt.Fprintf(out, "deleted %s %s locally (%d rows); it goes to the server at the next sync\n", pos[0], pos[1], len(txns))
			})
		}),
	}
}

// localWrite makes a create or an update through the local write path and
// prints the row as it is now.
func localWrite(ctx context.Context, c *client.Client, f *clientFlags, ch fieldsync.Change, out io.Writer) error {
	txns, err := c.Apply(ctx, ch)
	if err != nil {
		return err
	}
	id := ch.ID
	if ch.Op == fieldsync.OpInsert && len(txns) > 0 {
		id = txns[0].RowID
	}
	r, err := c.Get(ctx, ch.Table, id)
	if err != nil {
		return err
	}
	return f.print(out, r, func() { printRow(out, r) })
}
