package server

import (
	"context"

	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/internal/admin"
)

// Why says why a node sees, or does not see, the row id of table: the
// chain of rules and rows that grants it, or each rule tried and what it
// lacked (docs/schema.md "Why does a node (not) see a row"). A deactivated
// node is answered too, and the answer says it is deactivated.
func (a *Admin) Why(ctx context.Context, node, table, id string) (api.Why, error) {
	return admin.Explain(ctx, a.s.st, node, table, id)
}
