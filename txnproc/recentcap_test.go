package txnproc

import (
	"fmt"
	"testing"

	"github.com/fieldsync/fieldsync"
)

// TestRecentBoundsTransactions: however small their transactions, a
// Recent keeps at most RecentMaxTxns of them (the oldest files go first),
// and always the latest file.
func TestRecentBoundsTransactions(t *testing.T) {
	c := NewRecent(0)
	file := func(i int) (string, []fieldsync.Txn) {
		txns := make([]fieldsync.Txn, RecentMaxTxns/2)
		for j := range txns {
			txns[j] = fieldsync.Txn{Seq: int64(i*len(txns) + j + 1), Op: fieldsync.OpUpdate, Table: "contact", RowID: "k"}
		}
		return fmt.Sprintf("f%d", i), txns
	}
	for i := range 3 {
		name, txns := file(i)
		c.put(name, txns, len(txns)) // one byte each: far under the size
	}
	if _, ok := c.Txns("f0"); ok {
		t.Fatal("the oldest file is kept past the transaction bound")
	}
	for _, name := range []string{"f1", "f2"} {
		if _, ok := c.Txns(name); !ok {
			t.Fatalf("%s dropped within the bound", name)
		}
	}
	if c.count != RecentMaxTxns {
		t.Fatalf("%d transactions counted, want %d", c.count, RecentMaxTxns)
	}
	big := make([]fieldsync.Txn, RecentMaxTxns+1)
	c.put("huge", big, len(big))
	if _, ok := c.Txns("huge"); !ok || len(c.files) != 1 {
		t.Fatalf("the latest file, alone over the bound, is not the one kept: %d files", len(c.files))
	}
}
