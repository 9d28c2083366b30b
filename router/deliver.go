package router

import (
	"context"
	"fmt"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/visibility"
)

// loadNodes rereads this partition's nodes when they changed.
func (r *Router) loadNodes(ctx context.Context) error {
	v, err := r.st.NodesVersion(ctx)
	if err != nil {
		return err
	}
	if v == r.version && r.nodes != nil {
		return nil
	}
	v, all, err := r.st.RoutingNodes(ctx)
	if err != nil {
		return err
	}
	r.version = v
	r.nodes = map[string]*node{}
	r.byEmp = map[string][]*node{}
	r.active = r.active[:0]
	for _, nr := range all {
		if PartitionOf(nr.Name, r.cfg.Partitions) != r.cfg.Partition {
			continue
		}
		n := &node{NodeRouting: nr}
		r.nodes[n.Name] = n
		if n.Active {
			r.byEmp[n.EmployeeID] = append(r.byEmp[n.EmployeeID], n)
			r.active = append(r.active, n)
		}
	}
	return nil
}

// route computes the deliveries of a file's transactions.
func (r *Router) route(ctx context.Context, txns []fieldsync.Txn) error {
	for i := range txns {
		t := &txns[i]
		if fieldsync.IsSchemaMarker(*t) {
			if err := r.switchSchema(ctx, t); err != nil {
				return fmt.Errorf("transaction router: %w", err)
			}
			continue
		}
		changes, err := r.g.Apply(*t)
		if err != nil {
			return fmt.Errorf("transaction router: %w", err)
		}
		for _, ch := range changes {
			if err := r.deliver(ctx, t, ch); err != nil {
				return err
			}
		}
		if r.pending >= r.cfg.MaxPending {
			// Flushing mid-step holds memory down; a rerun after a crash
			// replaces the files it cut (see the package's crash safety).
			if err := r.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// deliver adds one visibility change's deliveries.
func (r *Router) deliver(ctx context.Context, t *fieldsync.Txn, ch visibility.Change) error {
	before, after := ch.Before, ch.After
	var whole *fieldsync.Txn // the row sent whole to nodes that gain it
	gain := func() (*fieldsync.Txn, error) {
		if whole != nil {
			return whole, nil
		}
		if ch.Subject && t.Op == fieldsync.OpInsert {
			whole = t
			return whole, nil
		}
		var err error
		whole, err = r.whole(ctx, t, ch.Table, ch.ID)
		return whole, err
	}
	purge := &fieldsync.Txn{Seq: t.Seq, Op: fieldsync.OpPurge, Table: ch.Table, RowID: ch.ID, Time: t.Time}

	// Fast path: the same audience before and after (the common update
	// that changes no column visibility reads).
	if before.Equal(after) {
		if !ch.Subject {
			return nil
		}
		r.each(after, func(n *node) {
			if n.Name != t.Origin {
				r.add(n, t)
			}
		})
		return nil
	}
	var err error
	r.each(after, func(n *node) {
		if err != nil || !r.ready(n, t.Seq) {
			return
		}
		if before.Sees(n.EmployeeID) {
			if ch.Subject && n.Name != t.Origin {
				r.add(n, t) // still sees it: the change itself
			}
			return
		}
		if ch.Subject && t.Op == fieldsync.OpInsert && n.Name == t.Origin {
			return // its own insert
		}
		var w *fieldsync.Txn
		if w, err = gain(); w != nil {
			r.add(n, w)
		}
	})
	if err != nil {
		return err
	}
	r.each(before, func(n *node) {
		if after.Sees(n.EmployeeID) || !r.ready(n, t.Seq) {
			return
		}
		if ch.Subject && t.Op == fieldsync.OpDelete {
			if n.Name != t.Origin {
				r.add(n, t)
			}
			return
		}
		r.add(n, purge)
	})
	return nil
}

// ready reports whether a node takes transaction seq: it has an extract,
// and the extract does not already hold the transaction.
func (r *Router) ready(n *node, seq int64) bool {
	return n.ExtractSeq != fieldsync.NoExtract && seq > n.ExtractSeq
}

// each calls fn for every active node of the partition in the audience.
func (r *Router) each(a visibility.Audience, fn func(*node)) {
	if a.All {
		for _, n := range r.active {
			fn(n)
		}
		return
	}
	for _, e := range a.Employees {
		for _, n := range r.byEmp[e] {
			fn(n)
		}
	}
}

func (r *Router) add(n *node, t *fieldsync.Txn) {
	if !r.ready(n, t.Seq) {
		return
	}
	n.out = append(n.out, t)
	r.pending++
}
