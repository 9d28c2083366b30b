package webui

import (
	"bytes"
	"html/template"

	"github.com/fieldsync/fieldsync"
)

// List is a table of records: a header of column names and one line per row,
// each row's id a link to Href + id.
type List struct {
	// Table is the table the rows come from.
	Table string
	// Columns are the columns shown, in order.
	Columns []string
	// Rows are the records.
	Rows []fieldsync.Row
	// Href prefixes a row's id to link to it ("" for no links).
	Href string
	// Empty is what the list says when it has no rows.
	Empty string
}

// NewList lists rows of table t with every column of the table.
func NewList(t *fieldsync.Table, rows []fieldsync.Row, href string) *List {
	l := &List{Table: t.Name, Rows: rows, Href: href, Empty: "No records."}
	for _, c := range t.Columns {
		l.Columns = append(l.Columns, c.Name)
	}
	return l
}

// Cells returns a row's values in column order, as the list shows them.
func (l *List) Cells(row fieldsync.Row) []string {
	out := make([]string, len(l.Columns))
	for i, c := range l.Columns {
		out[i] = FormatValue(row[c])
	}
	return out
}

// RenderList renders the list for a Page's Body.
func RenderList(l *List) (template.HTML, error) {
	var buf bytes.Buffer
	if err := write(&buf, "list", l); err != nil {
		return "", err
	}
	return template.HTML(buf.String()), nil
}
