package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/postgres"
	"github.com/fieldsync/fieldsync/schema"
)

// BenchmarkWritePath measures the one write path on PostgreSQL: single-row
// transactions logged per second with 1 and with 32 concurrent writers.
// Every writer serializes on the Transaction Log's counter row, so the log
// stays gap-free and in commit order.
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
		})
	}
}
