package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fieldsync/fieldsync/server"
)

// storeFlags are the flags naming a server's data folder and database, for
// the admin commands that work on them directly rather than through the API.
type storeFlags struct{ data, db string }

func (f *storeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.data, "data", "", "the server's data folder `DIR` (default $FIELDSYNC_DATA or ./fieldsync-data)")
	cmd.Flags().StringVar(&f.db, "db", "", "the server database `URL` when it is PostgreSQL (default $FIELDSYNC_DB; none: SQLite in the data folder)")
}

func (f *storeFlags) config() server.Config {
	data := orEnv(f.data, "FIELDSYNC_DATA")
	if data == "" {
		data = "fieldsync-data"
	}
	return server.Config{DataDir: data, DB: orEnv(f.db, "FIELDSYNC_DB"), NoTokenFile: true}
}

func adminBackup(c *conn) *cobra.Command {
	var sf storeFlags
	var out string
	cmd := &cobra.Command{
		Use: "backup --out FILE", Short: "copy the server's SQLite database, consistent, while it runs", Args: noArgs,
		Example: "fieldsync admin backup --data /var/lib/fieldsync --out /backup/fieldsync-$(date +%F).db",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("%w: admin backup --out FILE", errUsage)
			}
			cfg := sf.config()
			if err := server.Backup(cmd.Context(), cfg.DataDir, cfg.DB, out); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			return c.print(w, map[string]string{"backup": out}, func() {
				fmt.Fprintf(w, "backed up %s/server.db to %s; back up the data folder's docking, files and admin.token after it\n", cfg.DataDir, out)
			})
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&out, "out", "", "the backup `FILE` to write (it must not exist)")
	return cmd
}

func adminRestored(c *conn) *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use: "restored", Short: "after putting a backup back: bring the data folder and the nodes in step (no server running)", Args: noArgs,
		Example: "fieldsync admin restored --data /var/lib/fieldsync\nfieldsync admin restored --data /srv/fieldsync --db postgres://fieldsync@db.internal/fieldsync",
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := server.Restored(cmd.Context(), sf.config())
			if err != nil {
				return err
			}
			if rep.Nodes == nil {
				rep.Nodes = []string{} // "reextracted": [] when the backup has no node
			}
			w := cmd.OutOrStdout()
			return c.print(w, rep, func() {
				fmt.Fprintf(w, "database marked restored: incarnation %s (was %s), its log ends at %d\n", rep.Incarnation, rep.Previous, rep.LogLast)
				fmt.Fprintf(w, "docking folder: %d txnproc, %d outbox and %d inbox files removed; %d uploads to be sent again\n",
					rep.TxnprocRemoved, rep.OutboxRemoved, rep.InboxRemoved, rep.InboxForgotten)
				if len(rep.FoldersRemoved) > 0 {
					fmt.Fprintf(w, "folders of nodes the backup does not know removed (register them again): %s\n", strings.Join(rep.FoldersRemoved, ", "))
				}
				fmt.Fprintf(w, "new extracts asked for %d nodes: start the server; each node catches up at its next sync\n", len(rep.Nodes))
			})
		},
	}
	sf.register(cmd)
	return cmd
}
