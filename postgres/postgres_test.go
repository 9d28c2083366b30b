package postgres_test

import (
	"context"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/storetest"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/postgres"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *fieldsync.Schema) (fieldsync.Store, func(*fieldsync.Schema) (fieldsync.Store, error)) {
		dsn := testutil.PostgresURL(t)
		st, err := postgres.Open(context.Background(), dsn, s)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		reopen := func(s *fieldsync.Schema) (fieldsync.Store, error) {
			st, err := postgres.Open(context.Background(), dsn, s)
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { st.Close() })
			return st, nil
		}
		return st, reopen
	})
}
