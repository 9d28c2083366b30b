package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/sqlite"
)

// BenchmarkWritePath measures the one write path on a real SQLite file:
// transactions logged per second, one row per database transaction
// ("single") and 100 rows per database transaction ("batch100").
func BenchmarkWritePath(b *testing.B) {
	for _, batch := range []int{1, 100} {
		name := "single"
		if batch > 1 {
			name = fmt.Sprintf("batch%d", batch)
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "server.db"), schema.Default())
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Apply(ctx, "", fieldsync.Change{Op: fieldsync.OpInsert, Table: "account",
				Values: map[string]any{"id": "a1", "name": "Acme"}}); err != nil {
				b.Fatal(err)
			}
			changes := make([]fieldsync.Change, batch)
			b.ResetTimer()
			logged := 0
			for i := 0; i < b.N; i++ {
				for j := range changes {
					changes[j] = fieldsync.Change{Op: fieldsync.OpInsert, Table: "opportunity", Values: map[string]any{
						"name": "deal", "account_id": "a1", "stage": "new", "revenue": 1000.0, "close_date": "2026-12-01"}}
				}
				txns, err := st.Apply(ctx, "", changes...)
				if err != nil {
					b.Fatal(err)
				}
				logged += len(txns)
			}
			b.ReportMetric(float64(logged)/b.Elapsed().Seconds(), "txn/s")
		})
	}
}
