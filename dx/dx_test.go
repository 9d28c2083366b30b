package dx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/fieldsync/fieldsync"
)

var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

// sampleTxns covers every op and every value type.
func sampleTxns() []fieldsync.Txn {
	return []fieldsync.Txn{
		{Seq: 1, Op: fieldsync.OpInsert, Table: "opportunity", RowID: "S1-1", Time: t0,
			Values: fieldsync.Row{"id": "S1-1", "name": "Big deal", "amount": 125000.5, "stage": int64(3),
				"closed": false, "won": true, "note": nil, "empty": "", "unicode": "Größe – 商談 🚀"}},
		{Seq: 2, Op: fieldsync.OpUpdate, Table: "opportunity", RowID: "S1-1", Origin: "laptop-7", Time: t0.Add(time.Second),
			Values: fieldsync.Row{"amount": 130000.0, "note": "raised"},
			Prev:   fieldsync.Row{"amount": 125000.5, "note": nil}},
		{Seq: 3, Op: fieldsync.OpDelete, Table: "contact", RowID: "N9.x:y-z_", Time: t0.Add(time.Minute),
			Prev: fieldsync.Row{"id": "N9.x:y-z_", "last_name": "O'Brien"}},
		{Seq: 4, Op: fieldsync.OpPurge, Table: "account", RowID: "S1-9", Time: t0.Add(time.Hour)},
		{Seq: math.MaxInt64, Op: fieldsync.OpInsert, Table: "t", RowID: "x", Time: time.Time{},
			Values: fieldsync.Row{"min": int64(math.MinInt64), "max": int64(math.MaxInt64), "zero": int64(0), "neg": int64(-1)}},
		{Seq: -5, Op: fieldsync.OpUpdate, Table: "floats", RowID: "f", Time: time.Unix(0, 1).UTC(),
			Values: fieldsync.Row{
				"negzero": math.Copysign(0, -1), "zero": 0.0, "inf": math.Inf(1), "ninf": math.Inf(-1),
				"nan": math.NaN(), "nanpayload": math.Float64frombits(0x7ff8_dead_beef_0001),
				"tiny": math.SmallestNonzeroFloat64, "huge": math.MaxFloat64, "third": 1.0 / 3},
			Prev: fieldsync.Row{"": "empty column name", "bin": "\x00\xff\xfe not utf-8"}},
		{Seq: 7, Op: fieldsync.OpInsert, Table: "attachment", RowID: strings.Repeat("a", 128), Time: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
			Values: fieldsync.Row{"big": strings.Repeat("x", 200_000)}},
	}
}

func encode(t testing.TB, hdr Header, txns []fieldsync.Txn) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, hdr)
	for _, tx := range txns {
		if err := w.Write(tx); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return buf.Bytes()
}

// normalized is what a transaction reads back as: its time in UTC without a
// monotonic reading, and empty rows as nil.
func normalized(t fieldsync.Txn) fieldsync.Txn {
	t.Time = time.Unix(t.Time.Unix(), int64(t.Time.Nanosecond())).UTC()
	if len(t.Values) == 0 {
		t.Values = nil
	}
	if len(t.Prev) == 0 {
		t.Prev = nil
	}
	return t
}

// sameValue compares canonical values exactly: floats by their bits.
func sameValue(a, b any) bool {
	fa, ok1 := a.(float64)
	fb, ok2 := b.(float64)
	if ok1 || ok2 {
		return ok1 && ok2 && math.Float64bits(fa) == math.Float64bits(fb)
	}
	return a == b
}

func sameRow(a, b fieldsync.Row) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !sameValue(v, w) {
			return false
		}
	}
	return true
}

func sameTxn(a, b fieldsync.Txn) bool {
	return a.Seq == b.Seq && a.Op == b.Op && a.Table == b.Table && a.RowID == b.RowID &&
		a.Origin == b.Origin && a.Time == b.Time && sameRow(a.Values, b.Values) && sameRow(a.Prev, b.Prev)
}

func checkSame(t *testing.T, got, want []fieldsync.Txn) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d transactions, want %d", len(got), len(want))
	}
	for i := range want {
		if w := normalized(want[i]); !sameTxn(got[i], w) {
			t.Errorf("transaction %d:\n got %+v\nwant %+v", i, got[i], w)
		}
	}
}

// reseal recomputes the checksum of a file whose bytes a test changed, so
// the change reaches the checks behind the checksum.
func reseal(b []byte) []byte {
	b = bytes.Clone(b)
	if len(b) >= 4 {
		binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], crcTable()))
	}
	return b
}

// seal builds a file around a raw (decompressed) body, as a writer with
// different ideas would, to test what the reader accepts.
func seal(t testing.TB, hdr Header, count uint64, body []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, encoderOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	return sealCompressed(hdr, count, enc.EncodeAll(body, nil))
}

func sealCompressed(hdr Header, count uint64, compressed []byte) []byte {
	b := append([]byte(nil), magic...)
	b = binary.LittleEndian.AppendUint16(b, Version)
	b = append(b, byte(hdr.Kind), compressionZstd)
	b = binary.LittleEndian.AppendUint64(b, hdr.Number)
	b = append(b, byte(len(hdr.Node)))
	b = append(b, hdr.Node...)
	b = append(b, compressed...)
	b = append(b, trailerMagic...)
	b = binary.LittleEndian.AppendUint64(b, count)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(compressed)))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable()))
}

// record is a length-prefixed transaction record built from raw parts.
func record(parts ...[]byte) []byte {
	rec := bytes.Join(parts, nil)
	return append(binary.AppendUvarint(nil, uint64(len(rec))), rec...)
}

func uv(x uint64) []byte     { return binary.AppendUvarint(nil, x) }
func sv(x int64) []byte      { return binary.AppendVarint(nil, x) }
func str(s string) []byte    { return append(uv(uint64(len(s))), s...) }
func raw(b ...byte) []byte   { return b }
func cat(b ...[]byte) []byte { return bytes.Join(b, nil) }

// goodRecord is a valid purge record; tests alter one part at a time.
func goodRecordParts() [][]byte {
	return [][]byte{sv(1), raw(4), str("account"), str("S1-1"), str(""), sv(0), uv(0), uv(0), uv(0)}
}

var outboxHeader = Header{Kind: KindOutbox, Node: "laptop-7", Number: 12}

func TestRoundTrip(t *testing.T) {
	headers := []Header{
		{Kind: KindTxnproc},
		outboxHeader,
		{Kind: KindUpload, Node: strings.Repeat("n", 63), Number: math.MaxUint64},
	}
	all := sampleTxns()
	cases := map[string][]fieldsync.Txn{"none": nil, "all": all}
	for i, tx := range all {
		cases[fmt.Sprintf("txn%d-%s", i, tx.Op)] = []fieldsync.Txn{tx}
	}
	for _, hdr := range headers {
		for name, txns := range cases {
			t.Run(hdr.Kind.String()+"/"+name, func(t *testing.T) {
				data := encode(t, hdr, txns)
				gotHdr, got, err := ReadAll(bytes.NewReader(data), Limits{})
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(gotHdr, hdr) {
					t.Errorf("header %+v, want %+v", gotHdr, hdr)
				}
				checkSame(t, got, txns)
				if again := encode(t, gotHdr, got); !bytes.Equal(again, data) {
					t.Errorf("re-encoding the decoded file gives different bytes")
				}
			})
		}
	}
}

func TestTimeKeepsInstant(t *testing.T) {
	loc := time.FixedZone("UTC-5", -5*3600)
	in := fieldsync.Txn{Seq: 1, Op: fieldsync.OpPurge, Table: "a", RowID: "b", Time: time.Now().In(loc)}
	_, got, err := ReadAll(bytes.NewReader(encode(t, outboxHeader, []fieldsync.Txn{in})), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !got[0].Time.Equal(in.Time) || got[0].Time.Location() != time.UTC {
		t.Errorf("time %v, want %v in UTC", got[0].Time, in.Time)
	}
}

func TestDeterministic(t *testing.T) {
	txns := sampleTxns()
	want := encode(t, outboxHeader, txns)
	// Rows with the same content built in other orders, many times over so
	// that map iteration order varies.
	for i := range 20 {
		again := make([]fieldsync.Txn, len(txns))
		for j, tx := range txns {
			again[j] = tx
			again[j].Values = rebuild(tx.Values, i)
			again[j].Prev = rebuild(tx.Prev, i)
		}
		if got := encode(t, outboxHeader, again); !bytes.Equal(got, want) {
			t.Fatalf("round %d: same transactions, different bytes", i)
		}
	}
	// A reused Writer writes the same bytes as a fresh one.
	var buf bytes.Buffer
	w := NewWriter(io.Discard, Header{Kind: KindTxnproc})
	w.Write(txns[0])
	w.Reset(&buf, outboxHeader)
	for _, tx := range txns {
		if err := w.Write(tx); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatal("a reset Writer writes different bytes")
	}
}

// rebuild copies a row, inserting its columns in an order that depends on
// round, with extra columns added and removed to disturb the map.
func rebuild(r fieldsync.Row, round int) fieldsync.Row {
	if r == nil {
		return nil
	}
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	c := make(fieldsync.Row)
	for i := range 100 {
		c[fmt.Sprintf("tmp%d", i)] = i
	}
	for i := range keys {
		k := keys[(i*7+round)%len(keys)]
		if _, ok := c[k]; ok {
			k = keys[i]
		}
		c[k] = r[k]
	}
	for k := range r {
		c[k] = r[k]
	}
	for i := range 100 {
		delete(c, fmt.Sprintf("tmp%d", i))
	}
	return c
}

func TestWriteRefuses(t *testing.T) {
	ok := fieldsync.Txn{Seq: 1, Op: fieldsync.OpInsert, Table: "t", RowID: "r", Time: t0}
	with := func(f func(*fieldsync.Txn)) fieldsync.Txn { tx := ok; f(&tx); return tx }
	cases := []struct {
		name string
		txn  fieldsync.Txn
		want string
	}{
		{"int", with(func(t *fieldsync.Txn) { t.Values = fieldsync.Row{"n": 1} }), "column n has unsupported type int"},
		{"int32", with(func(t *fieldsync.Txn) { t.Values = fieldsync.Row{"n": int32(1)} }), "type int32"},
		{"float32", with(func(t *fieldsync.Txn) { t.Prev = fieldsync.Row{"n": float32(1)} }), "previous values: column n has unsupported type float32"},
		{"bytes", with(func(t *fieldsync.Txn) { t.Values = fieldsync.Row{"n": []byte("x")} }), "type []uint8"},
		{"time", with(func(t *fieldsync.Txn) { t.Values = fieldsync.Row{"n": t0} }), "type time.Time"},
		{"map", with(func(t *fieldsync.Txn) { t.Values = fieldsync.Row{"n": map[string]any{}} }), "type map[string]interface {}"},
		{"op", with(func(t *fieldsync.Txn) { t.Op = "upsert" }), `unknown op "upsert"`},
		{"no op", with(func(t *fieldsync.Txn) { t.Op = "" }), `unknown op ""`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf, outboxHeader)
			err := w.Write(c.txn)
			if !errors.Is(err, fieldsync.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want ErrInvalid containing %q", err, c.want)
			}
			// The refused transaction left no trace: the file is still good.
			if err := w.Write(ok); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), encode(t, outboxHeader, []fieldsync.Txn{ok})) {
				t.Fatal("refused transaction changed the file")
			}
		})
	}
}

func TestWriteBadHeader(t *testing.T) {
	for _, hdr := range []Header{{}, {Kind: 4}, {Kind: KindOutbox, Node: "Bad Node"}, {Kind: KindOutbox, Node: strings.Repeat("n", 64)}} {
		w := NewWriter(io.Discard, hdr)
		if err := w.Write(sampleTxns()[0]); !errors.Is(err, fieldsync.ErrInvalid) {
			t.Errorf("header %+v: write error %v, want ErrInvalid", hdr, err)
		}
		if err := w.Close(); !errors.Is(err, fieldsync.ErrInvalid) {
			t.Errorf("header %+v: close error %v, want ErrInvalid", hdr, err)
		}
	}
}

func TestWriteTooLarge(t *testing.T) {
	w := NewWriter(io.Discard, outboxHeader)
	big := fieldsync.Txn{Seq: 1, Op: fieldsync.OpInsert, Table: "t", RowID: "r",
		Values: fieldsync.Row{"x": strings.Repeat("x", DefaultMaxTxnBytes)}}
	if err := w.Write(big); !errors.Is(err, fieldsync.ErrTooLarge) {
		t.Fatalf("error %v, want ErrTooLarge", err)
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("disk full")
	}
	f.after--
	return len(p), nil
}

func TestWriteIOError(t *testing.T) {
	w := NewWriter(&failWriter{}, outboxHeader)
	for _, tx := range sampleTxns() {
		if err := w.Write(tx); err != nil {
			break
		}
	}
	err := w.Close()
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("close error %v, want disk full", err)
	}
	if err2 := w.Close(); err2 != err {
		t.Fatalf("second close %v, want %v", err2, err)
	}
}

func TestWriteAfterClose(t *testing.T) {
	w := NewWriter(io.Discard, outboxHeader)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(sampleTxns()[0]); err == nil {
		t.Fatal("write after close succeeded")
	}
}

// smallFile is a valid file small enough to damage at every position.
func smallFile(t testing.TB) []byte {
	return encode(t, outboxHeader, sampleTxns()[:4])
}

// readBoth decodes data with ReadAll and, from a file, with ReadFile; both
// must agree.
func readBoth(t *testing.T, data []byte, lim Limits) error {
	t.Helper()
	_, txns, err := ReadAll(bytes.NewReader(data), lim)
	if err != nil && txns != nil {
		t.Fatalf("ReadAll returned transactions with error %v", err)
	}
	path := filepath.Join(t.TempDir(), "100%d", "000012.dx")
	os.Mkdir(filepath.Dir(path), 0o755)
	if werr := os.WriteFile(path, data, 0o644); werr != nil {
		t.Fatal(werr)
	}
	_, txns2, err2 := ReadFile(path, lim)
	if (err == nil) != (err2 == nil) || err2 != nil && txns2 != nil {
		t.Fatalf("ReadAll: %v; ReadFile: %v", err, err2)
	}
	if err2 != nil {
		if !strings.Contains(err2.Error(), path) {
			t.Errorf("ReadFile error %q does not name the file", err2)
		}
		if strings.Contains(err2.Error(), "\n") {
			t.Errorf("error %q is not one line", err2)
		}
	}
	return err
}

func TestFlippedByte(t *testing.T) {
	data := smallFile(t)
	for i := range data {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(data)
			bad[i] ^= mask
			_, _, err := ReadAll(bytes.NewReader(bad), Limits{})
			if !errors.Is(err, fieldsync.ErrDamagedFile) {
				t.Fatalf("byte %d ^ %#x: error %v, want ErrDamagedFile", i, mask, err)
			}
		}
	}
	// Through a file too, at a sample of positions.
	for i := 0; i < len(data); i += 7 {
		bad := bytes.Clone(data)
		bad[i] ^= 0x10
		if err := readBoth(t, bad, Limits{}); !errors.Is(err, fieldsync.ErrDamagedFile) {
			t.Fatalf("byte %d: error %v, want ErrDamagedFile", i, err)
		}
	}
}

func TestTruncated(t *testing.T) {
	data := smallFile(t)
	for n := range len(data) {
		_, _, err := ReadAll(bytes.NewReader(data[:n]), Limits{})
		if !errors.Is(err, fieldsync.ErrDamagedFile) {
			t.Fatalf("truncated to %d of %d bytes: error %v, want ErrDamagedFile", n, len(data), err)
		}
	}
	if err := readBoth(t, data[:len(data)-1], Limits{}); !strings.Contains(fmt.Sprint(err), "truncated") {
		t.Fatalf("error %v, want truncated", err)
	}
}

func TestDamaged(t *testing.T) {
	data := smallFile(t)
	set := func(off int, b ...byte) []byte { d := bytes.Clone(data); copy(d[off:], b); return d }
	trailer := len(data) - trailerLen
	hdrLen := fixedHeaderLen + len(outboxHeader.Node)
	good := record(goodRecordParts()...)
	alter := func(i int, part []byte) []byte {
		parts := goodRecordParts()
		parts[i] = part
		return record(parts...)
	}
	row1 := func(name string, value []byte) []byte { return cat(uv(1), str(name), value) }
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "dx file: truncated (0 bytes)"},
		{"bad magic", set(0, 'P', 'K'), "not a .dx file (bad magic)"},
		{"short bad magic", []byte("PK"), "not a .dx file (bad magic)"},
		{"text file", []byte("hello, world, this is not a dx file at all, is it?"), "not a .dx file (bad magic)"},
		{"version 7", set(4, 7, 0), "unsupported version 7 (this build reads versions 1 and 2)"},
		{"version 0 resealed", reseal(set(4, 0, 0)), "unsupported version 0 (this build reads versions 1 and 2)"},
		{"checksum", set(len(data)-1, data[len(data)-1]^1), "checksum mismatch"},
		{"body byte", set(hdrLen+5, data[hdrLen+5]^0x40), "checksum mismatch"},
		{"no trailer", data[:len(data)-1], "truncated or damaged (no trailer at the end)"},
		{"appended bytes", append(bytes.Clone(data), 0), "no trailer"},
		{"appended bytes resealed", reseal(append(bytes.Clone(data[:len(data)-4]), 0, 0, 0, 0, 0)), "no trailer"},
		{"count too high", reseal(set(trailer+4, 5)), "trailer counts 5 transactions, the body holds 4"},
		{"count too low", reseal(set(trailer+4, 3)), "the body holds more transactions than the trailer's 3"},
		{"body length", reseal(set(trailer+12, 1)), "trailer gives a body of"},
		{"kind", reseal(set(6, 9)), "unknown kind 9"},
		{"compression", reseal(set(7, 2)), "unsupported compression 2"},
		{"node name", reseal(set(17, 'L')), `header names node "Laptop-7", not a valid node name`},
		{"node length", reseal(set(16, 200)), "not a valid node name"},
		{"node length past end", reseal(setIn(encode(t, outboxHeader, nil), 16, 255)), "truncated"},
		{"body not zstd", sealCompressed(outboxHeader, 1, []byte("definitely not zstd")), "damaged body"},
		{"zstd frame then garbage", sealCompressed(outboxHeader, 1, append(zstdOf(t, good), 1, 2, 3, 4, 5, 6, 7, 8)), "damaged body"},
		{"empty record", seal(t, outboxHeader, 1, raw(0)), "empty record"},
		{"record cut short", seal(t, outboxHeader, 1, good[:len(good)-1]), "body ends inside transaction 1"},
		{"length overflows", seal(t, outboxHeader, 1, raw(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)), "length overflows"},
		{"length not minimal", seal(t, outboxHeader, 1, cat(raw(byte(len(good)-1)|0x80, 0), good[1:])), "not minimally encoded"},
		{"unknown op", seal(t, outboxHeader, 1, alter(1, raw(9))), "unknown op 9"},
		{"op zero", seal(t, outboxHeader, 1, alter(1, raw(0))), "unknown op 0"},
		{"seq not minimal", seal(t, outboxHeader, 1, alter(0, raw(0x82, 0))), "sequence number is not minimally encoded"},
		{"string past end", seal(t, outboxHeader, 1, alter(2, raw(100, 'a'))), "length 100 runs past the record"},
		{"nanoseconds", seal(t, outboxHeader, 1, alter(6, uv(1e9))), "time nanoseconds 1000000000 out of range"},
		{"trailing bytes", seal(t, outboxHeader, 1, record(append(goodRecordParts(), raw(0))...)), "1 unexpected bytes at the end"},
		{"columns", seal(t, outboxHeader, 1, alter(7, uv(1000))), "1000 columns cannot fit"},
		{"unknown tag", seal(t, outboxHeader, 1, alter(7, row1("a", raw(6)))), `values: column "a": unknown value tag 6`},
		{"float short", seal(t, outboxHeader, 1, alter(8, cat(row1("a", raw(tagFloat, 1, 2, 3)), raw(0, 0, 0, 0)))), "real number is cut short"},
		{"float cut", seal(t, outboxHeader, 1, alter(8, row1("a", raw(tagFloat, 1, 2, 3, 4, 5, 6, 7)))), `previous values: column "a": real number is cut short`},
		{"text past end", seal(t, outboxHeader, 1, alter(7, row1("a", raw(tagString, 50)))), `column "a": text length 50 runs past the record`},
		{"int not minimal", seal(t, outboxHeader, 1, alter(7, row1("a", raw(tagInt, 0x80, 0)))), "integer is not minimally encoded"},
		{"columns unsorted", seal(t, outboxHeader, 1, alter(7, cat(uv(2), str("b"), raw(tagNil), str("a"), raw(tagNil)))), `column "a": column out of order or repeated`},
		{"columns repeated", seal(t, outboxHeader, 1, alter(7, cat(uv(2), str("a"), raw(tagNil), str("a"), raw(tagTrue)))), "out of order or repeated"},
		{"table not UTF-8", seal(t, outboxHeader, 1, alter(2, str("acc\xffount"))), "table: text is not valid UTF-8 (byte 0xff at byte 3)"},
		{"row id with NUL", seal(t, outboxHeader, 1, alter(3, str("S1\x00"))), "row id: text holds a NUL byte at byte 2"},
		{"origin not UTF-8", seal(t, outboxHeader, 1, alter(4, str("\xc3"))), "origin: text is not valid UTF-8"},
		{"column not UTF-8", seal(t, outboxHeader, 1, alter(7, row1("a\xfe", raw(tagNil)))), "column name: text is not valid UTF-8"},
		{"more records than count", seal(t, outboxHeader, 1, cat(good, good)), "more transactions than the trailer's 1"},
		{"fewer records than count", seal(t, outboxHeader, 3, cat(good, good)), "trailer counts 3 transactions, the body holds 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := readBoth(t, c.data, Limits{})
			t.Log(err)
			if !errors.Is(err, fieldsync.ErrDamagedFile) {
				t.Fatalf("error %v, want ErrDamagedFile", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want it to contain %q", err, c.want)
			}
		})
	}
}

func setIn(data []byte, off int, b ...byte) []byte {
	d := bytes.Clone(data)
	copy(d[off:], b)
	return d
}

func zstdOf(t testing.TB, b []byte) []byte {
	enc, err := zstd.NewWriter(nil, encoderOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll(b, nil)
}

func TestLimits(t *testing.T) {
	txns := []fieldsync.Txn{
		{Seq: 1, Op: fieldsync.OpInsert, Table: "t", RowID: "a", Values: fieldsync.Row{"x": strings.Repeat("a", 100_000)}},
		{Seq: 2, Op: fieldsync.OpInsert, Table: "t", RowID: "b", Values: fieldsync.Row{"x": strings.Repeat("b", 100_000)}},
		{Seq: 3, Op: fieldsync.OpPurge, Table: "t", RowID: "c"},
	}
	data := encode(t, outboxHeader, txns)
	cases := []struct {
		name string
		lim  Limits
		want string
	}{
		{"file", Limits{MaxFileBytes: int64(len(data)) - 1}, "over the limit of"},
		{"body", Limits{MaxBodyBytes: 150_000}, "more than 150000 bytes once decompressed"},
		{"txns", Limits{MaxTxns: 2}, "3 transactions, over the limit of 2"},
		{"txn size", Limits{MaxTxnBytes: 99_999}, "transaction 1 is 1000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := readBoth(t, data, c.lim)
			if !errors.Is(err, fieldsync.ErrTooLarge) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want ErrTooLarge containing %q", err, c.want)
			}
		})
	}
	// At the limits exactly, the file is accepted.
	var w Writer
	var body, largest int64
	for _, tx := range txns {
		rec, err := w.appendTxn(nil, &tx)
		if err != nil {
			t.Fatal(err)
		}
		body += int64(uvarintLen(uint64(len(rec))) + len(rec))
		largest = max(largest, int64(len(rec)))
	}
	exact := Limits{MaxFileBytes: int64(len(data)), MaxBodyBytes: body, MaxTxns: 3, MaxTxnBytes: largest}
	if err := readBoth(t, data, exact); err != nil {
		t.Fatal(err)
	}
}

// A decompression bomb: a small file that decompresses to far more than the
// body limit is stopped at the limit, without the whole body in memory.
func TestDecompressionBomb(t *testing.T) {
	rec := record(sv(1), raw(1), str("t"), str("r"), str(""), sv(0), uv(0), cat(uv(1), str("x"), raw(tagString), str(strings.Repeat("z", 1<<20))), uv(0))
	var body []byte
	for range 16 {
		body = append(body, rec...)
	}
	data := seal(t, outboxHeader, 16, body)
	if len(data) > 64<<10 {
		t.Fatalf("bomb is %d bytes", len(data))
	}
	_, _, err := ReadAll(bytes.NewReader(data), Limits{MaxBodyBytes: 4 << 20})
	if !errors.Is(err, fieldsync.ErrTooLarge) {
		t.Fatalf("error %v, want ErrTooLarge", err)
	}
}

func TestIterate(t *testing.T) {
	txns := sampleTxns()
	data := encode(t, outboxHeader, txns)
	r, err := Open(bytes.NewReader(data), int64(len(data)), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Header(), outboxHeader) || r.Count() != uint64(len(txns)) {
		t.Fatalf("header %+v count %d", r.Header(), r.Count())
	}
	var got []fieldsync.Txn
	for {
		tx, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tx)
	}
	checkSame(t, got, txns)
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next after the end: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

type failReaderAt struct {
	data  []byte
	after int64
}

func (f failReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.after {
		return 0, errors.New("input/output error")
	}
	return copy(p, f.data[off:]), nil
}

// An I/O error is reported as such, not as a damaged file.
func TestReadIOError(t *testing.T) {
	data := smallFile(t)
	_, err := Open(failReaderAt{data, 20}, int64(len(data)), Limits{})
	if err == nil || errors.Is(err, fieldsync.ErrDamagedFile) || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("error %v, want the I/O error", err)
	}
}

// A file shorter than the size its reader was given is truncated.
func TestSizeLies(t *testing.T) {
	data := smallFile(t)
	_, err := Open(bytes.NewReader(data), int64(len(data))+10, Limits{})
	if !errors.Is(err, fieldsync.ErrDamagedFile) {
		t.Fatalf("error %v, want ErrDamagedFile", err)
	}
}

func TestReadFileMissing(t *testing.T) {
	_, _, err := ReadFile(filepath.Join(t.TempDir(), "nope.dx"), Limits{})
	if !errors.Is(err, os.ErrNotExist) || errors.Is(err, fieldsync.ErrDamagedFile) {
		t.Fatalf("error %v, want not exist", err)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindTxnproc: "txnproc", KindOutbox: "outbox", KindUpload: "upload", 0: "kind(0)", 9: "kind(9)"} {
		if k.String() != want {
			t.Errorf("Kind(%d) = %q, want %q", k, k.String(), want)
		}
	}
}
