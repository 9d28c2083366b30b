package fieldsync

import (
	"strings"
	"testing"
)

func TestCheckText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"plain", ""},
		{"Zürich – 東京 🚀", ""},
		{"\uFFFD is a character", ""},
		{"bad\xff", "text is not valid UTF-8 (byte 0xff at byte 3)"},
		{"é\xc3", "text is not valid UTF-8 (byte 0xc3 at byte 2)"},
		{"\xed\xa0\x80", "text is not valid UTF-8 (byte 0xed at byte 0)"}, // a surrogate
		{"nul\x00", "text holds a NUL byte at byte 3"},
	} {
		got := ""
		if err := CheckText(c.in); err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("CheckText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCoerceRowOfNamesTheRow(t *testing.T) {
	tb := &Table{Name: "account", Columns: []*Column{{Name: "id", Type: TypeText}, {Name: "name", Type: TypeText}}}
	tb.byName = map[string]*Column{"id": tb.Columns[0], "name": tb.Columns[1]}
	for _, c := range []struct{ id, value, want string }{
		{"acme", "Acme\xff", `account row "acme": column name: text is not valid UTF-8 (byte 0xff at byte 4)`},
		{"", "\x00", `account (new row): column name: text holds a NUL byte at byte 0`},
	} {
		_, err := tb.CoerceRowOf(c.id, map[string]any{"name": c.value})
		if err == nil || err.Error() != c.want {
			t.Errorf("CoerceRowOf(%q, %q) = %v, want %q", c.id, c.value, err, c.want)
		}
	}
	if row, err := tb.CoerceRowOf("acme", map[string]any{"name": "Acme ✓"}); err != nil || !strings.HasSuffix(row["name"].(string), "✓") {
		t.Errorf("valid text: %v, %v", row, err)
	}
}
