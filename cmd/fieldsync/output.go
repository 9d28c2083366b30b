package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// null is how tables show a null value: distinct from any text a value of
// "-" or "NULL" could hold.
const null = "∅"

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newTable is the writer of aligned columns every table uses.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// printRow prints a row as aligned "column  value" lines, id first.
func printRow(w io.Writer, row map[string]any) {
	tw := newTable(w)
	for _, k := range rowKeys(row) {
		fmt.Fprintf(tw, "%s\t%s\n", k, show(row[k]))
	}
	tw.Flush()
}

// printRows prints rows as a table with a header line.
func printRows(w io.Writer, rows []map[string]any) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "(no rows)")
		return
	}
	keys := rowKeys(rows[0])
	tw := newTable(w)
	fmt.Fprintln(tw, strings.Join(keys, "\t"))
	for _, r := range rows {
		vals := make([]string, len(keys))
		for i, k := range keys {
			vals[i] = show(r[k])
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	}
	tw.Flush()
}

func rowKeys(row map[string]any) []string {
	keys := make([]string, 0, len(row))
	for k := range row {
		if k != "id" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if _, ok := row["id"]; ok {
		keys = append([]string{"id"}, keys...)
	}
	return keys
}

// show is a value as a table cell: null as ∅, text on one line with its
// backslashes, newlines, tabs and other control characters escaped (\\,
// \n, \r, \t, \xNN), times in RFC 3339 UTC.
func show(v any) string {
	switch v := v.(type) {
	case nil:
		return null
	case string:
		return escape(v)
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case map[string]any, []any:
		b, _ := json.Marshal(v)
		return escape(string(b))
	}
	return escape(fmt.Sprint(v))
}

// escape writes s on one line that says exactly what s holds.
func escape(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' || r == utf8.RuneError }) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i]) // a control character, or a byte that is not UTF-8
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// when is a time in RFC 3339 UTC to the second, "-" for none: the times of
// the administrator's tables.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// whenMilli is a time in RFC 3339 UTC to the millisecond, "-" for none:
// the times of a node's events (syncs, failures, recoveries), two of which
// may fall within one second.
func whenMilli(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// stamp is an RFC 3339 time as the client reports it, printed as
// whenMilli does ("-" for none; as given when it is not RFC 3339).
func stamp(s string) string {
	if s == "" {
		return "-"
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return whenMilli(t)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// parseValues reads col=value (text, converted by the server to the
// column's type) and col:=JSON arguments.
func parseValues(args []string) (map[string]any, error) {
	vals := map[string]any{}
	for _, a := range args {
		if k, raw, ok := strings.Cut(a, ":="); ok && !strings.Contains(k, "=") {
			var v any
			dec := json.NewDecoder(strings.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				return nil, fmt.Errorf("%w: %s: %q is not a JSON value", errUsage, k, raw)
			}
			vals[k] = v
			continue
		}
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: %q is not col=value or col:=JSON", errUsage, a)
		}
		vals[k] = v
	}
	return vals, nil
}

// oneLine keeps only the first line of a message.
func oneLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
