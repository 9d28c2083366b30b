package admin

import (
	"context"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/visibility"
)

// WhyStore is what explaining a node's view of a row needs of the server
// database.
type WhyStore interface {
	Node(ctx context.Context, name string) (fieldsync.Node, []byte, error)
	Snapshot(ctx context.Context, fn func(fieldsync.Snapshot) error) error
	Schema() *fieldsync.Schema
}

// Why is the answer to "why does a node (not) see a row": the node, and
// the explanation of the row's visibility to its employee (docs/schema.md
// "Why does a node (not) see a row").
type Why struct {
	Node string `json:"node"`
	// Active is false for a deactivated node (Deactivated says since
	// when): it is routed nothing, and the explanation is what its
	// employee's rules would give it.
	Active      bool      `json:"active"`
	Deactivated time.Time `json:"deactivated,omitzero"`
	visibility.Explanation
}

// Explain says why the named node sees, or does not see, the row id of
// table, applying the visibility rules to the node's employee on one
// consistent view of the server database. An unknown node is an
// ErrNodeUnknown error; an unknown table and a missing row ErrNotFound.
func Explain(ctx context.Context, st WhyStore, node, table, id string) (Why, error) {
	if node == "" || table == "" || id == "" {
		return Why{}, fieldsync.Errorf(fieldsync.ErrInvalid, "explaining a row's visibility needs a node, a table and a row id")
	}
	n, _, err := st.Node(ctx, node)
	if err != nil {
		return Why{}, err
	}
	out := Why{Node: n.Name, Active: n.Active, Deactivated: n.Deactivated}
	err = st.Snapshot(ctx, func(snap fieldsync.Snapshot) error {
		ex, err := visibility.Explain(ctx, snap, st.Schema(), n.EmployeeID, table, id)
		out.Explanation = ex
		return err
	})
	return out, err
}
