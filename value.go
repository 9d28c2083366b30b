package fieldsync

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Row is one row of a synchronized table: column name to canonical value.
// Canonical values are nil, string (text, timestamp, file), int64, float64
// and bool; Column.Coerce produces them from user input.
type Row map[string]any

// ID returns the row's id, or "".
func (r Row) ID() string {
	id, _ := r["id"].(string)
	return id
}

// Clone returns a shallow copy of the row (values are immutable).
func (r Row) Clone() Row {
	if r == nil {
		return nil
	}
	c := make(Row, len(r))
	for k, v := range r {
		c[k] = v
	}
	return c
}

// ValuesEqual reports whether two canonical values are equal.
func ValuesEqual(a, b any) bool {
	return a == b
}

// idPattern is what a row id may look like: ids travel in URLs, file names
// and logs, so they are kept to a safe alphabet.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

// ValidID reports whether s may be used as a row id.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// Coerce turns an input value into the column's canonical value, or says why
// it cannot. Inputs may be Go values, JSON-decoded values (json.Number,
// float64, string, bool, nil) or strings as typed on a command line, which
// are parsed according to the column type.
func (c *Column) Coerce(v any) (any, error) {
	if v == nil {
		if c.Required || c.Name == "id" {
			return nil, fmt.Errorf("column %s is required and cannot be null", c.Name)
		}
		return nil, nil
	}
	var out any
	var bad string // what v is, when the column cannot take it
	switch c.Type {
	case TypeText:
		s, ok := v.(string)
		if !ok {
			bad = describe(v)
		} else if err := CheckText(s); err != nil {
			return nil, fmt.Errorf("column %s: %v", c.Name, err)
		} else if (c.References != "" || c.Name == "id") && !ValidID(s) {
			return nil, fmt.Errorf("column %s expects a row id (letters, digits, _ . : -), got %q", c.Name, s)
		}
		out = s
	case TypeInteger:
		out, bad = coerceInteger(v)
	case TypeReal:
		out, bad = coerceReal(v)
	case TypeBoolean:
		out, bad = coerceBoolean(v)
	case TypeTimestamp:
		s, ok := v.(string)
		if !ok {
			bad = describe(v)
		} else if ts, err := ParseTimestamp(s); err != nil {
			bad = strconv.Quote(s) + " (use RFC 3339, e.g. 2026-12-01T09:30:00Z, or a date 2026-12-01)"
		} else {
			out = FormatTimestamp(ts)
		}
	case TypeFile:
		s, ok := v.(string)
		if !ok {
			bad = describe(v)
		} else if ref, err := ParseFileRef(s); err != nil {
			return nil, fmt.Errorf("column %s: %v", c.Name, err)
		} else {
			out = ref.String()
		}
	default:
		return nil, fmt.Errorf("column %s has unknown type %q", c.Name, c.Type)
	}
	if bad != "" {
		return nil, fmt.Errorf("column %s expects %s, got %s", c.Name, c.Type, bad)
	}
	return out, nil
}

// CheckText says why s cannot be stored as text, or returns nil. Text must
// be valid UTF-8 (JSON, the Transaction Log and the nodes' copies would
// otherwise hold a replaced copy that never equals the stored one) and
// free of NUL bytes (PostgreSQL cannot store them).
func CheckText(s string) error {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return fmt.Errorf("text holds a NUL byte at byte %d", i)
	}
	if !utf8.ValidString(s) {
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				return fmt.Errorf("text is not valid UTF-8 (byte 0x%02x at byte %d)", s[i], i)
			}
			i += n
		}
	}
	return nil
}

// coerceInteger converts v to an int64, or says what v is.
func coerceInteger(v any) (any, string) {
	switch x := v.(type) {
	case int64:
		return x, ""
	case int:
		return int64(x), ""
	case int32:
		return int64(x), ""
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return nil, fmt.Sprintf("%v", x)
		}
		return int64(x), ""
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return n, ""
		}
		return nil, string(x)
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
			return n, ""
		}
		return nil, strconv.Quote(x)
	}
	return nil, describe(v)
}

// coerceReal converts v to a finite float64, or says what v is.
func coerceReal(v any) (any, string) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int64:
		f = float64(x)
	case int:
		f = float64(x)
	case json.Number:
		var err error
		if f, err = strconv.ParseFloat(string(x), 64); err != nil {
			return nil, string(x)
		}
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
			return nil, strconv.Quote(x)
		}
	default:
		return nil, describe(v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Sprintf("%v", f)
	}
	return f, ""
}

// coerceBoolean converts v to a bool, or says what v is.
func coerceBoolean(v any) (any, string) {
	switch x := v.(type) {
	case bool:
		return x, ""
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "t", "yes", "y", "1":
			return true, ""
		case "false", "f", "no", "n", "0":
			return false, ""
		}
		return nil, strconv.Quote(x)
	}
	return nil, describe(v)
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		return "text " + strconv.Quote(x)
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case json.Number, float64, float32, int, int64, int32:
		return fmt.Sprintf("number %v", x)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

// ParseTimestamp reads an RFC 3339 timestamp or a plain date (midnight UTC).
func ParseTimestamp(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", s)
}

// FormatTimestamp is the canonical text of a timestamp: RFC 3339 in UTC.
func FormatTimestamp(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// FileRef is the value of a file column: the content's SHA-256 and size.
// Files themselves live in the server's content-addressed file store.
type FileRef struct {
	SHA256 string // 64 lowercase hex digits
	Size   int64
}

// String is the canonical text form "sha256:HEX:SIZE".
func (f FileRef) String() string { return fmt.Sprintf("sha256:%s:%d", f.SHA256, f.Size) }

// ParseFileRef reads the text form of a FileRef.
func ParseFileRef(s string) (FileRef, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] != "sha256" || len(parts[1]) != 64 {
		return FileRef{}, fmt.Errorf("file reference %q is not of the form sha256:<64 hex digits>:<size>", s)
	}
	for _, r := range parts[1] {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return FileRef{}, fmt.Errorf("file reference %q: hash must be lowercase hex", s)
		}
	}
	n, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || n < 0 {
		return FileRef{}, fmt.Errorf("file reference %q: bad size", s)
	}
	return FileRef{SHA256: parts[1], Size: n}, nil
}

// CoerceRow checks and converts a whole set of input values for the table:
// every key must be a column, every value of the column's type. It does not
// add missing columns.
func (t *Table) CoerceRow(in map[string]any) (Row, error) {
	return t.coerceRow(t.Name, in)
}

// CoerceRowOf is CoerceRow for the values of the row with the given id (""
// for a row yet to get one): its errors name the table, the row and the
// column.
func (t *Table) CoerceRowOf(id string, in map[string]any) (Row, error) {
	where := t.Name + " (new row)"
	if id != "" {
		where = fmt.Sprintf("%s row %q", t.Name, id)
	}
	return t.coerceRow(where, in)
}

func (t *Table) coerceRow(where string, in map[string]any) (Row, error) {
	out := make(Row, len(in))
	for k, v := range in {
		c := t.byName[k]
		if c == nil {
			return nil, Errorf(ErrInvalid, "table %s has no column %q", t.Name, k)
		}
		cv, err := c.Coerce(v)
		if err != nil {
			return nil, Errorf(ErrInvalid, "%s: %v", where, err)
		}
		out[k] = cv
	}
	return out, nil
}
