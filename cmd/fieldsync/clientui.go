package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/client/localui"
)

// clientUI serves the node's local database on loopback: the field user's
// view and its local JSON API (docs/client-ui.md).
func clientUI(f *clientFlags) *cobra.Command {
	listen := "127.0.0.1:7171"
	cmd := &cobra.Command{
		Use: "ui [--listen 127.0.0.1:7171]", Short: "serve the field user's view and the local JSON API on loopback", Args: noArgs,
		Long:    "Prints a URL with a random token; the token is needed by every page and API call (docs/client-ui.md).",
		Example: "fieldsync client ui --dir ann\nfieldsync client ui --dir ann --listen 127.0.0.1:8080",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := localui.CheckListen(listen); err != nil {
				return err
			}
			return f.open(func(ctx context.Context, c *client.Client, _ []string, out io.Writer) error {
				return serveUI(ctx, c, listen, out)
			})(cmd, nil)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", listen, "loopback `ADDRESS` to listen on")
	return cmd
}

func serveUI(ctx context.Context, c *client.Client, listen string, out io.Writer) error {
	ui, err := localui.New(c, nil)
	if err != nil {
		return err
	}
	defer ui.Close()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: ui.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(out, "the field user's view of node %s: http://%s/?token=%s\ntoken for the local API: %s\n", c.Node(), ln.Addr(), ui.Token(), ui.Token())
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		ui.Close() // ends a running sync and answers the watchers now
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = hs.Shutdown(sctx)
		<-done
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
