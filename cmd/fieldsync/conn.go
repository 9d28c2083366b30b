package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/syncproto"
)

// conn holds the flags every command that talks to a server takes.
type conn struct {
	server, token, tokenFile, ca string
	json                         bool
	// user is a connected user's login (record --user): the password
	// comes from $FIELDSYNC_PASSWORD or stdin, and replaces the token.
	user string
}

// register adds the connection's flags to fs (a group's persistent flags:
// every verb of record and admin takes them).
func (c *conn) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.server, "server", "", "server `URL` (default $FIELDSYNC_SERVER or http://127.0.0.1:7070; without a scheme, http://)")
	fs.StringVar(&c.token, "token", "", "API `TOKEN` (default $FIELDSYNC_TOKEN or the token file)")
	fs.StringVar(&c.tokenFile, "token-file", filepath.Join("fieldsync-data", "admin.token"), "`FILE` holding the API token")
	fs.StringVar(&c.ca, "ca", "", "PEM `FILE` of the authority that signed an https server's certificate, if the system does not trust it (default $FIELDSYNC_CA)")
	fs.BoolVar(&c.json, "json", false, "print the result as JSON")
}

// registerUser adds --user to fs (the record verbs').
func (c *conn) registerUser(fs *pflag.FlagSet) {
	fs.StringVar(&c.user, "user", "", "act as the connected user `LOGIN` instead of with the API token; the password is $FIELDSYNC_PASSWORD, else stdin's first line")
}

// serverURL is a server address as given, with http:// in front when it
// names no scheme (127.0.0.1:7070).
func serverURL(s string) string {
	if s != "" && !strings.Contains(s, "://") {
		return "http://" + s
	}
	return s
}

// orEnv is s, or else the environment variable's value.
func orEnv(s, env string) string {
	if s == "" {
		return os.Getenv(env)
	}
	return s
}

// client builds the API client from the flags, the environment and the
// token file, in that order; with --user, from the user's login and the
// password in $FIELDSYNC_PASSWORD or on stdin.
func (c *conn) client(stdin io.Reader) (*api.Client, error) {
	url := serverURL(orEnv(c.server, "FIELDSYNC_SERVER"))
	if url == "" {
		url = "http://127.0.0.1:7070"
	}
	if err := syncproto.CheckServer(url); err != nil {
		return nil, err
	}
	ac := &api.Client{BaseURL: url}
	if c.user != "" {
		ac.User, ac.Password = c.user, os.Getenv("FIELDSYNC_PASSWORD")
		if ac.Password == "" {
			pw, err := readPassword(stdin)
			if err != nil {
				return nil, fmt.Errorf("the password of user %s: %w", c.user, err)
			}
			ac.Password = pw
		}
	} else if err := c.setToken(ac); err != nil {
		return nil, err
	}
	if ca := orEnv(c.ca, "FIELDSYNC_CA"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("CA certificate: %w", err)
		}
		if ac.HTTP, err = api.HTTPClient(string(pem)); err != nil {
			return nil, err
		}
	}
	return ac, nil
}

// setToken gives the client the API token of the flags, the environment
// or the token file.
func (c *conn) setToken(ac *api.Client) error {
	token := orEnv(c.token, "FIELDSYNC_TOKEN")
	if token == "" {
		data, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return fmt.Errorf("no API token: pass --token, set FIELDSYNC_TOKEN, or run from the folder holding %s (%v)", c.tokenFile, err)
		}
		token = strings.TrimSpace(string(data))
	}
	ac.Token = token
	return nil
}

// call makes the run of a verb that talks to the server: run gets the API
// client the connection's flags give, the positional arguments and where
// to print.
func (c *conn) call(run func(ctx context.Context, cl *api.Client, pos []string, out io.Writer) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, pos []string) error {
		cl, err := c.client(cmd.InOrStdin())
		if err != nil {
			return err
		}
		return run(cmd.Context(), cl, pos, cmd.OutOrStdout())
	}
}

// answer prints the row a verb answers, or its error.
func (c *conn) answer(row map[string]any, err error, out io.Writer) error {
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(out, row)
	}
	printRow(out, row)
	return nil
}

// print prints a verb's result: v as JSON with --json, else text.
func (c *conn) print(out io.Writer, v any, text func()) error {
	if c.json {
		return printJSON(out, v)
	}
	text()
	return nil
}
