package storetest

import (
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
)

func assertRow(t *testing.T, got, want fieldsync.Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("row %v, want %v", got, want)
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok || g != v {
			t.Fatalf("row[%s] = %#v (present %v), want %#v\nrow: %v", k, g, ok, v, got)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

var (
	ins = fieldsync.Insert
	upd = fieldsync.Update
	del = fieldsync.Delete
)
