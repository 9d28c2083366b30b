package webui

import (
	"bytes"
	"html/template"
	"net/url"
	"strings"

	"github.com/fieldsync/fieldsync"
)

// Field is one input of a record form, built from a column of the schema.
type Field struct {
	// Name is the column name, and the form field's name.
	Name string
	// Type is the column type; Input is the HTML input type drawn for it.
	Type  fieldsync.ColumnType
	Input string
	// Required columns refuse an empty value.
	Required bool
	// References is the table a foreign key points at ("" otherwise);
	// PickerURL, when set, is where the picker script asks for matching rows.
	References string
	PickerURL  string
	// Value is the current value as the field shows it.
	Value string
	// Error is the message shown next to the field ("" when none).
	Error string
	// ReadOnly fields are shown but not sent (the id of an existing row, or
	// columns the viewer may not write).
	ReadOnly bool
}

// ID is the HTML id of the field's input ("f-" + column).
func (f Field) ID() string { return "f-" + f.Name }

// Form is a record form for one table.
type Form struct {
	// Table is the table's name; ID is the row's id ("" for a new row).
	Table string
	ID    string
	// Action is where the form posts; CSRF is the token it carries.
	Action string
	CSRF   string
	// Fields are the table's columns in schema order ("id" first).
	Fields []Field
	// Error is a message for the whole form (not tied to one column).
	Error string
	// Submit labels the submit button.
	Submit string
}

// NewForm builds the form of table t showing row (nil for a new row, whose id
// field is then editable and may be left empty to have one generated, and
// whose fields start with their columns' defaults: a field left as it is
// gets the default, one emptied is null).
// pickerBase, when not "", is the URL prefix of the foreign-key pickers:
// a column referencing table T asks pickerBase + T.
func NewForm(t *fieldsync.Table, row fieldsync.Row, pickerBase string) *Form {
	f := &Form{Table: t.Name, ID: row.ID(), Submit: "Save"}
	for _, c := range t.Columns {
		v := row[c.Name]
		if row == nil {
			v = c.Default
		}
		fd := Field{Name: c.Name, Type: c.Type, Input: inputType(c), Required: c.Required,
			References: c.References, Value: FormatValue(v)}
		if c.Name == "id" {
			fd.ReadOnly = f.ID != ""
		}
		if c.References != "" && pickerBase != "" {
			fd.PickerURL = pickerBase + c.References
		}
		f.Fields = append(f.Fields, fd)
	}
	return f
}

// inputType is the HTML input drawn for a column's type.
func inputType(c *fieldsync.Column) string {
	switch c.Type {
	case fieldsync.TypeBoolean:
		return "select"
	default:
		// Numbers and timestamps stay text inputs: the server's own
		// coercion decides and its message is shown next to the field,
		// the same on every browser.
		return "text"
	}
}

// Field returns the named field, or nil.
func (f *Form) Field(name string) *Field {
	for i := range f.Fields {
		if f.Fields[i].Name == name {
			return &f.Fields[i]
		}
	}
	return nil
}

// SetValues shows what the user typed (after a refused save) in the fields.
func (f *Form) SetValues(values url.Values) {
	for i := range f.Fields {
		if f.Fields[i].ReadOnly {
			continue
		}
		f.Fields[i].Value = values.Get(f.Fields[i].Name)
	}
}

// SetErrors puts each message next to its column's field; a message for a
// column the form has no field for becomes the form's Error.
func (f *Form) SetErrors(errs map[string]string) {
	var rest []string
	for col, msg := range errs {
		if fd := f.Field(col); fd != nil {
			fd.Error = msg
		} else {
			rest = append(rest, msg)
		}
	}
	if len(rest) > 0 {
		f.Error = strings.Join(rest, "; ")
	}
}

// ParseForm reads a posted record form of table t into column values, coerced
// with the schema's rules. An empty field is null. The "id" field is
// returned as id (and not in the values). errs maps each column whose value
// was refused to a one-line message for its field. Columns for which no
// field was posted are left out, so an edit changes only what the form sent.
func ParseForm(t *fieldsync.Table, values url.Values) (id string, vals map[string]any, errs map[string]string) {
	vals = map[string]any{}
	errs = map[string]string{}
	id = strings.TrimSpace(values.Get("id"))
	if id != "" && !fieldsync.ValidID(id) {
		errs["id"] = "an id is letters, digits and _ . : - (at most 128)"
	}
	for _, c := range t.Columns {
		if c.Name == "id" {
			continue
		}
		raw, sent := values[c.Name]
		if !sent {
			continue
		}
		s := strings.TrimSpace(strings.Join(raw, ""))
		var in any
		if s != "" {
			in = s
		}
		v, err := c.Coerce(in)
		if err != nil {
			errs[c.Name] = err.Error()
			continue
		}
		vals[c.Name] = v
	}
	return id, vals, errs
}

// RenderForm renders the form for a Page's Body.
func RenderForm(f *Form) (template.HTML, error) {
	var buf bytes.Buffer
	if err := write(&buf, "form", f); err != nil {
		return "", err
	}
	return template.HTML(buf.String()), nil
}
