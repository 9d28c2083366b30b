package fieldsync

import "context"

// Attachment modes (docs/design.md "Attachments"): the value of an
// attachment row's ModeColumn says which nodes get its file.
const (
	// ModePublished: every node that sees the row gets the file at its next sync.
	ModePublished = "published"
	// ModeRequested: nodes get the row; the file only when the user asks for it.
	ModeRequested = "requested"
	// ModeBroadcast: every node gets the row and its file, whatever it sees otherwise.
	ModeBroadcast = "broadcast"
)

// Columns an attachment table may have beside its file column.
const (
	// ModeColumn holds the row's attachment mode (text).
	ModeColumn = "mode"
	// FileNameColumn holds the attached file's original name (text).
	FileNameColumn = "file_name"
)

// ValidMode reports whether m is an attachment mode.
func ValidMode(m string) bool {
	return m == ModePublished || m == ModeRequested || m == ModeBroadcast
}

// Broadcasts reports whether a table's rows can be in broadcast mode: it
// carries files and has a text ModeColumn, and is not private.
func (t *Table) Broadcasts() bool {
	c := t.Column(ModeColumn)
	return t.HasFile() && c != nil && c.Type == TypeText && !t.Private
}

// Broadcast reports whether a row of table t is in broadcast mode.
func (t *Table) Broadcast(row Row) bool { return t.Broadcasts() && row[ModeColumn] == ModeBroadcast }

// FileColumn returns the table's first column of type file, or nil.
func (t *Table) FileColumn() *Column {
	for _, c := range t.Columns {
		if c.Type == TypeFile {
			return c
		}
	}
	return nil
}

// FileRefs returns the file references that values (a row, or a change's
// values) name in the table's file columns.
func (t *Table) FileRefs(values Row) []FileRef {
	var out []FileRef
	for _, c := range t.Columns {
		if c.Type != TypeFile {
			continue
		}
		if s, ok := values[c.Name].(string); ok {
			if ref, err := ParseFileRef(s); err == nil {
				out = append(out, ref)
			}
		}
	}
	return out
}

// NodeFiles tells which attachment files a node uploaded itself. The
// Transaction Merger lets a node name in its rows only such a file or one
// carried by a row the node sees (docs/sync.md "Who may write what").
type NodeFiles interface {
	// UploadedBy reports whether node uploaded the content of the file.
	UploadedBy(ctx context.Context, node string, ref FileRef) (bool, error)
}
