package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/storetest"
	"github.com/fieldsync/fieldsync/sqlite"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *fieldsync.Schema) (fieldsync.Store, func(*fieldsync.Schema) (fieldsync.Store, error)) {
		path := filepath.Join(t.TempDir(), "server.db")
		st, err := sqlite.Open(context.Background(), path, s)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		reopen := func(s *fieldsync.Schema) (fieldsync.Store, error) {
			st, err := sqlite.Open(context.Background(), path, s)
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { st.Close() })
			return st, nil
		}
		return st, reopen
	})
}
