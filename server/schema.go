package server

import (
	"context"
	"time"

	"github.com/fieldsync/fieldsync/internal/admin"
)

// SchemaPoll is how often a process looks for a schema version another
// process of the installation applied.
const SchemaPoll = time.Second

// followSchema puts in force, until ctx ends, the schema versions other
// processes sharing the database apply (the process that applies one has
// it in force at once).
func (s *Server) followSchema(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(SchemaPoll):
		}
		ok, err := s.st.RefreshSchema(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("reading the schema versions failed", "err", err)
		case ok:
			s.log.Info("schema version in force", "version", s.st.SchemaVersion(), "source", s.st.Schema().Source)
		}
	}
}

// PlanSchema says what putting schema file yaml (named source) in force
// would do: the migration steps, what is refused and why, and what each
// node would gain and lose. It changes nothing.
func (a *Admin) PlanSchema(ctx context.Context, source string, yaml []byte) (admin.SchemaPlan, error) {
	sch, err := admin.ParseSchema(source, yaml)
	if err != nil {
		return admin.SchemaPlan{}, err
	}
	return admin.PlanSchema(ctx, a.s.st, sch)
}

// ApplySchema puts schema file yaml (named source) in force on the
// running server, as fieldsync admin schema apply does.
func (a *Admin) ApplySchema(ctx context.Context, source string, yaml []byte) (admin.SchemaPlan, error) {
	sch, err := admin.ParseSchema(source, yaml)
	if err != nil {
		return admin.SchemaPlan{}, err
	}
	return admin.ApplySchema(ctx, a.s.st, sch, "server.Admin")
}
