package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/postgres"
	"github.com/fieldsync/fieldsync/schema"
)

// BenchmarkWritePath measures the one write path on PostgreSQL: single-row
// transactions logged per second with 1 and with 32 concurrent writers.
// Every writer serializes on the Transaction Log's counter row, so the log
// stays gap-free and in commit order; writes made at the same time share a
// commit. Beside each figure, the machine's limit for the same number of
// writers: each a connection of its own inserting one row into a plain
// table in a transaction of its own (committed as durably: no checks, no
// log, no counter), measured in the same run.
func BenchmarkWritePath(b *testing.B) {
	for _, writers := range []int{1, 32} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			ctx := context.Background()
			st, err := postgres.Open(ctx, testutil.PostgresURL(b), schema.Default())
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Apply(ctx, "", fieldsync.Insert("account", map[string]any{"id": "a1", "name": "Acme"})); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			per := (b.N + writers - 1) / writers
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < per; i++ {
						_, err := st.Apply(ctx, "", fieldsync.Insert("opportunity", map[string]any{
							"name": "deal", "account_id": "a1", "stage": "new", "revenue": 1000.0}))
						if err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			rate := float64(per*writers) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "txn/s")
			fmt.Printf("postgres_write_path_writers_%d %.0f txn/s\n", writers, rate)
			s, _ := st.LogState(ctx)
			if s.LastSeq != int64(per*writers)+1 {
				b.Fatalf("log holds %d entries, want %d", s.LastSeq, per*writers+1)
			}
			limit := insertLimit(b, writers, per)
			fmt.Printf("postgres_write_path_writers_%d_limit %.0f txn/s (ratio %.2f)\n", writers, limit, rate/limit)
		})
	}
}

// insertLimit returns the one-row transactions a second that writers
// connections of their own commit, per each, into a plain table.
func insertLimit(b *testing.B, writers, per int) float64 {
	b.Helper()
	db, err := sql.Open("pgx", testutil.PostgresURL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(writers)
	if _, err := db.Exec("CREATE TABLE limit_rows (id BIGSERIAL PRIMARY KEY, name TEXT, account_id TEXT, stage TEXT, revenue DOUBLE PRECISION)"); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	start := time.Now()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				if _, err := db.Exec("INSERT INTO limit_rows (name, account_id, stage, revenue) VALUES ($1, $2, $3, $4)", "deal", "a1", "new", 1000.0); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(writers*per) / time.Since(start).Seconds()
}
