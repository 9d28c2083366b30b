package sqlstore

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
)

// decodeStd is what decodeFlat stands in for.
func decodeStd(s string) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var raw map[string]any
	err := dec.Decode(&raw)
	return raw, err
}

// TestDecodeFlat checks that decodeFlat decodes logged rows as a
// json.Decoder does, takes the rows the log holds (no escapes) itself,
// and leaves everything else to encoding/json.
func TestDecodeFlat(t *testing.T) {
	taken := []string{
		`{}`, ` { } `, `{"a":"x"}`, `{"a":"","b":null,"c":true,"d":false}`,
		`{"n":0,"m":-12,"f":1.5,"e":-2.5e+10,"g":3E-2,"z":-0}`,
		`{"name":"Zoë – 東京","stage":"r1-2"}`, `{"a":1,"a":2}`, "{\n\t\"a\" : \"b\" ,\r\n \"c\":1}",
	}
	for _, s := range taken {
		got, ok := decodeFlat(s)
		if !ok {
			t.Errorf("%s: left to encoding/json", s)
			continue
		}
		want, err := decodeStd(s)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %#v, want %#v (%v)", s, got, want, err)
		}
	}
	left := []string{
		``, `null`, `[]`, `{"a":"x\"y"}`, `{"a":"\u00e9"}`, "{\"a\":\"\xff\"}", "{\"a\":\"\x01\"}",
		`{"a":{"b":1}}`, `{"a":[1]}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":+1}`,
		`{"a":1,}`, `{"a" 1}`, `{"a":1} x`, `{"a":1}{}`, `{"a":tru}`, `{"a":nul}`, `{"a"`, `{a:1}`, `{"a":1`,
	}
	for _, s := range left {
		if got, ok := decodeFlat(s); ok {
			t.Errorf("%q: taken as %#v, not left to encoding/json", s, got)
		}
	}
	// Random rows as the log writes them (encoding/json): whatever
	// decodeFlat takes, it decodes as encoding/json does.
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "Z", "0", " ", "é", "東", "\"", "\\", "\n", "<", "&", "\u2028", "\xff", "-", "_"}
	took := 0
	for range 2000 {
		row := map[string]any{}
		for c := range rng.IntN(6) {
			key := string(rune('a' + c))
			switch rng.IntN(5) {
			case 0:
				row[key] = nil
			case 1:
				row[key] = rng.IntN(2) == 0
			case 2:
				row[key] = rng.Int64() - rng.Int64()
			case 3:
				row[key] = rng.NormFloat64() * 1e6
			default:
				var s string
				for range rng.IntN(8) {
					s += alphabet[rng.IntN(len(alphabet))]
				}
				row[key] = s
			}
		}
		data, err := json.Marshal(row)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := decodeFlat(string(data))
		if !ok {
			continue
		}
		took++
		want, err := decodeStd(string(data))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: %#v, want %#v (%v)", data, got, want, err)
		}
	}
	if took < 200 {
		t.Fatalf("decodeFlat took only %d of 2000 random rows", took)
	}
}
