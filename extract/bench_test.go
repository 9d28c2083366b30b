package extract_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/extract"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/sqlite"
)

// BenchmarkExtract100k measures the Database Extract of a node that sees
// 100,000 rows (an account on its team with 99,996 contacts), in a server
// database that also holds 100,000 rows the node does not see. Bar: under
// 3 seconds.
func BenchmarkExtract100k(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "server.db"), schema.Default())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	must := func(changes ...fieldsync.Change) {
		if _, err := st.Apply(ctx, "", changes...); err != nil {
			b.Fatal(err)
		}
	}
	ins := func(table string, vals map[string]any) fieldsync.Change {
		return fieldsync.Change{Op: fieldsync.OpInsert, Table: table, Values: vals}
	}
	must(ins("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}),
		ins("position", map[string]any{"id": "p-ann", "employee_id": "ann"}),
		ins("account", map[string]any{"id": "mine", "name": "Mine"}),
		ins("account", map[string]any{"id": "other", "name": "Other"}),
		ins("account_team", map[string]any{"account_id": "mine", "position_id": "p-ann"}))
	for _, acc := range []string{"mine", "other"} {
		batch := make([]fieldsync.Change, 0, 1000)
		for i := 0; i < 99_996; i++ {
			batch = append(batch, ins("contact", map[string]any{"account_id": acc, "first_name": fmt.Sprintf("First%d", i),
				"last_name": "Lastname", "email": fmt.Sprintf("c%d@example.com", i), "phone": "+1 555 0100"}))
			if len(batch) == cap(batch) {
				must(batch...)
				batch = batch[:0]
			}
		}
		must(batch...)
	}
	if _, err := st.AddNode(ctx, fieldsync.Node{Name: "ann-laptop", EmployeeID: "ann"}, fieldsync.HashSecret("x")); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var took time.Duration
	var rows int
	for i := 0; i < b.N; i++ {
		res, err := extract.Extract(ctx, st, docking.In(dir), "ann-laptop", nil)
		if err != nil {
			b.Fatal(err)
		}
		took += res.Took
		rows = 0
		for _, n := range res.Rows {
			rows += n
		}
	}
	if rows < 100_000 {
		b.Fatalf("extract holds %d rows, want at least 100,000", rows)
	}
	sec := took.Seconds() / float64(b.N)
	b.ReportMetric(sec, "s/extract")
	b.ReportMetric(float64(rows)/sec, "rows/s")
	fmt.Printf("extract_100k_rows %.2f s\n", sec)
}
