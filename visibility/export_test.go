package visibility

import (
	"context"

	"github.com/fieldsync/fieldsync"
)

// ReferenceOwn is the plain recomputation of the rows SeesOwn is true of:
// the reference fixed point with neither all rules nor broadcast as seeds.
func ReferenceOwn(ctx context.Context, db fieldsync.Reader, s *fieldsync.Schema, employee string) (map[string][]string, error) {
	return reference(ctx, db, s, employee, false)
}
