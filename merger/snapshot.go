package merger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/fieldsync/fieldsync"
)

// snapshot reads the rows of a merge transaction while the batch writes
// nothing: the checks of its changes before any is merged, and those of
// the rows it wrote once all are. Each row and each listing is read from
// the database once, and every later read of it (the visibility walks of
// a thousand contacts of one account) is answered from memory. A row is
// never changed by its readers.
type snapshot struct {
	fieldsync.MergeTx
	rows  map[rowRef]got
	lists map[string]listed
}

type got struct {
	row fieldsync.Row
	err error // nil, or the row's ErrNotFound
}

type listed struct {
	page fieldsync.Page
	err  error
}

func newSnapshot(tx fieldsync.MergeTx) *snapshot {
	return &snapshot{MergeTx: tx, rows: map[rowRef]got{}, lists: map[string]listed{}}
}

func (s *snapshot) Get(ctx context.Context, table, id string) (fieldsync.Row, error) {
	k := rowRef{table, id}
	if g, ok := s.rows[k]; ok {
		return g.row, g.err
	}
	row, err := s.MergeTx.Get(ctx, table, id)
	if err == nil || errors.Is(err, fieldsync.ErrNotFound) {
		s.rows[k] = got{row, err}
	}
	return row, err
}

func (s *snapshot) List(ctx context.Context, table string, q fieldsync.Query) (fieldsync.Page, error) {
	k := listKey(table, q)
	if l, ok := s.lists[k]; ok {
		return l.page, l.err
	}
	p, err := s.MergeTx.List(ctx, table, q)
	if err == nil {
		s.lists[k] = listed{p, err}
	}
	return p, err
}

// listKey names a listing: the table, the page and the filters, in order.
func listKey(table string, q fieldsync.Query) string {
	var b strings.Builder
	b.WriteString(table + "\x00" + strconv.Itoa(q.Limit) + "\x00" + q.After)
	keys := make([]string, 0, len(q.Where))
	for k := range q.Where {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString("\x00" + k + "=")
		if v, ok := q.Where[k].(string); ok {
			b.WriteString("s:" + v) // the usual filter: a row id
		} else {
			fmt.Fprintf(&b, "%T:%v", q.Where[k], q.Where[k])
		}
	}
	return b.String()
}

// rowsReader reads the current rows of many ids of one table at once (the
// server database's merge transaction does).
type rowsReader interface {
	GetRows(ctx context.Context, table string, ids []string) (map[string]fieldsync.Row, error)
}

// prefetchBatch is how many ids one read of rows names.
const prefetchBatch = 500

// prefetch reads the rows named, table by table, with as few reads as
// the transaction allows, so that their Gets are answered from memory.
func (s *snapshot) prefetch(ctx context.Context, sch *fieldsync.Schema, keys []rowRef) error {
	rr, ok := s.MergeTx.(rowsReader)
	if !ok {
		return nil
	}
	byTable := map[string][]string{}
	named := map[rowRef]bool{}
	var tables []string
	for _, k := range keys {
		if _, done := s.rows[k]; done || named[k] || sch.Table(k.table) == nil || !fieldsync.ValidID(k.id) {
			continue
		}
		if byTable[k.table] == nil {
			tables = append(tables, k.table)
		}
		named[k] = true
		byTable[k.table] = append(byTable[k.table], k.id)
	}
	for _, t := range tables {
		ids := byTable[t]
		for len(ids) > 0 {
			n := min(prefetchBatch, len(ids))
			rows, err := rr.GetRows(ctx, t, ids[:n])
			if err != nil {
				return err
			}
			for _, id := range ids[:n] {
				if row, ok := rows[id]; ok {
					s.rows[rowRef{t, id}] = got{row: row}
				} else {
					s.rows[rowRef{t, id}] = got{err: fieldsync.Errorf(fieldsync.ErrNotFound, "%s: no row with id %q", t, id)}
				}
			}
			ids = ids[n:]
		}
	}
	return nil
}

// batchRows names the rows the checks of a batch read first: each changed
// row, and each row a foreign key among its values names.
func batchRows(sch *fieldsync.Schema, txns []fieldsync.Txn) []rowRef {
	var keys []rowRef
	for _, t := range txns {
		keys = append(keys, rowRef{t.Table, t.RowID})
		tb := sch.Table(t.Table)
		if tb == nil {
			continue
		}
		for _, c := range tb.Columns {
			if id, _ := t.Values[c.Name].(string); c.References != "" && id != "" {
				keys = append(keys, rowRef{c.References, id})
			}
		}
	}
	return keys
}
