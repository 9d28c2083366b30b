package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/syncproto"
)

// conn holds the flags every command that talks to a server takes.
type conn struct {
	server, token, tokenFile, ca string
	json                         bool
}

func (c *conn) register(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", "", "server `URL` (default $FIELDSYNC_SERVER or http://127.0.0.1:7070)")
	fs.StringVar(&c.token, "token", "", "API `token` (default $FIELDSYNC_TOKEN or the token file)")
	fs.StringVar(&c.tokenFile, "token-file", filepath.Join("fieldsync-data", "admin.token"), "`file` holding the API token")
	fs.StringVar(&c.ca, "ca", os.Getenv("FIELDSYNC_CA"), "PEM `file` of the authority that signed an https server's certificate, if the system does not trust it")
	fs.BoolVar(&c.json, "json", false, "print JSON")
}

// client builds the API client from the flags, the environment and the
// token file, in that order.
func (c *conn) client() (*api.Client, error) {
	url := c.server
	if url == "" {
		url = os.Getenv("FIELDSYNC_SERVER")
	}
	if url == "" {
		url = "http://127.0.0.1:7070"
	}
	if err := syncproto.CheckServer(url); err != nil {
		return nil, err
	}
	token := c.token
	if token == "" {
		token = os.Getenv("FIELDSYNC_TOKEN")
	}
	if token == "" {
		data, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("no API token: pass --token, set FIELDSYNC_TOKEN, or run from the folder holding %s (%v)", c.tokenFile, err)
		}
		token = strings.TrimSpace(string(data))
	}
	ac := &api.Client{BaseURL: url, Token: token}
	if c.ca != "" {
		pem, err := os.ReadFile(c.ca)
		if err != nil {
			return nil, fmt.Errorf("CA certificate: %w", err)
		}
		if ac.HTTP, err = api.HTTPClient(string(pem)); err != nil {
			return nil, err
		}
	}
	return ac, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printRow prints a row as aligned "column  value" lines, id first.
func printRow(w io.Writer, row map[string]any) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, k := range rowKeys(row) {
		fmt.Fprintf(tw, "%s\t%s\n", k, show(row[k]))
	}
	tw.Flush()
}

// printRows prints rows as a table with a header line.
func printRows(w io.Writer, rows []map[string]any) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "(no rows)")
		return
	}
	keys := rowKeys(rows[0])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(keys, "\t"))
	for _, r := range rows {
		vals := make([]string, len(keys))
		for i, k := range keys {
			vals[i] = show(r[k])
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	}
	tw.Flush()
}

func rowKeys(row map[string]any) []string {
	keys := make([]string, 0, len(row))
	for k := range row {
		if k != "id" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if _, ok := row["id"]; ok {
		keys = append([]string{"id"}, keys...)
	}
	return keys
}

func show(v any) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(v)
}

// parseValues reads col=value (text, converted by the server to the
// column's type) and col:=JSON arguments.
func parseValues(args []string) (map[string]any, error) {
	vals := map[string]any{}
	for _, a := range args {
		if k, raw, ok := strings.Cut(a, ":="); ok && !strings.Contains(k, "=") {
			var v any
			dec := json.NewDecoder(strings.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				return nil, fmt.Errorf("%w: %s: %q is not a JSON value", errUsage, k, raw)
			}
			vals[k] = v
			continue
		}
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: %q is not col=value or col:=JSON", errUsage, a)
		}
		vals[k] = v
	}
	return vals, nil
}
