package main

import (
	"context"
	"fmt"
	"io"

	"github.com/fieldsync/fieldsync/api"
)

func recordCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: record needs a verb: create, get, list, update, delete", errUsage)
	}
	// The shape of each verb's command line, checked before anything else
	// so a mistyped command says how to call it.
	shapes := map[string]struct {
		min   int
		exact bool
		shape string
	}{
		"create": {2, false, "TABLE col=value ..."},
		"get":    {2, true, "TABLE ID"},
		"list":   {1, false, "TABLE [col=value ...]"},
		"update": {3, false, "TABLE ID col=value ..."},
		"delete": {2, true, "TABLE ID"},
		"attach": {3, true, "TABLE ID FILE [--mode published|requested|broadcast]"},
		"fetch":  {2, true, "TABLE ID --out PATH"},
	}
	verb := args[0]
	sh, ok := shapes[verb]
	if !ok {
		return fmt.Errorf("%w: unknown record verb %q (create, get, list, update, delete, attach, fetch)", errUsage, verb)
	}
	fs := newFlags("record "+verb, stderr)
	var c conn
	c.register(fs)
	limit := fs.Int("limit", 0, "list: rows per page (default 100; all pages are printed)")
	mode := fs.String("mode", "", "attach: published, requested or broadcast")
	out := fs.String("out", "", "fetch: where to write the file")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) < sh.min || sh.exact && len(pos) > sh.min {
		return fmt.Errorf("%w: record %s %s", errUsage, verb, sh.shape)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	switch verb {
	case "attach":
		return attachFile(ctx, cl, pos[0], pos[1], pos[2], *mode, c.json, stdout)
	case "fetch":
		if *out == "" {
			return fmt.Errorf("%w: record fetch TABLE ID --out PATH", errUsage)
		}
		return fetchFile(ctx, cl, pos[0], pos[1], *out, stdout)
	case "list":
		return recordList(ctx, cl, pos, *limit, c.json, stdout)
	case "delete":
		if err := cl.Delete(ctx, pos[0], pos[1]); err != nil {
			return err
		}
		if c.json {
			return printJSON(stdout, map[string]string{"deleted": pos[1]})
		}
		fmt.Fprintf(stdout, "deleted %s %s\n", pos[0], pos[1])
		return nil
	}
	row, err := recordRow(ctx, cl, verb, pos)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(stdout, row)
	}
	printRow(stdout, row)
	return nil
}

// recordRow runs a verb that answers one row: create, get or update.
func recordRow(ctx context.Context, cl *api.Client, verb string, pos []string) (map[string]any, error) {
	switch verb {
	case "create":
		vals, err := parseValues(pos[1:])
		if err != nil {
			return nil, err
		}
		return cl.Create(ctx, pos[0], vals)
	case "update":
		vals, err := parseValues(pos[2:])
		if err != nil {
			return nil, err
		}
		return cl.Update(ctx, pos[0], pos[1], vals)
	}
	return cl.Get(ctx, pos[0], pos[1])
}

// recordList prints every page of a list.
func recordList(ctx context.Context, cl *api.Client, pos []string, limit int, asJSON bool, stdout io.Writer) error {
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
