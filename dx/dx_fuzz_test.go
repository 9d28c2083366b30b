package dx

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
)

// fuzzLimits keep the fuzzer's memory small; they are limits like any other.
var fuzzLimits = Limits{MaxFileBytes: 1 << 20, MaxBodyBytes: 4 << 20, MaxTxns: 10_000, MaxTxnBytes: 1 << 20}

// FuzzDecode feeds arbitrary bytes to the decoder three ways: as a file; as a
// file with its checksum recomputed, so that mutations reach the body; and
// as a decompressed body. Nothing may panic, every refusal must be a
// damaged-file or too-large error, and whatever decodes must re-encode
// deterministically. A body that decodes must re-encode to exactly the same
// bytes: the encoding is canonical.
//
// The seed corpus is in testdata/fuzz/FuzzDecode (regenerate it with
// DX_WRITE_CORPUS=1 go test -run TestWriteFuzzCorpus ./dx/).
func FuzzDecode(f *testing.F) {
	for _, c := range corpus(f) {
		f.Add(c.data)
	}
	// One Writer for all inputs: a fresh zstd encoder per input would make
	// the fuzzer spend its time allocating. Inputs run one at a time.
	var w Writer
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFile(t, &w, data)
		if len(data) >= minFileLen {
			checkFile(t, &w, reseal(data))
		}
		checkBody(t, &w, data)
	})
}

// reencode encodes with w, reused.
func reencode(t *testing.T, w *Writer, hdr Header, txns []fieldsync.Txn) []byte {
	var buf bytes.Buffer
	w.Reset(&buf, hdr)
	for _, tx := range txns {
		if err := w.Write(tx); err != nil {
			t.Fatalf("decoded transaction does not encode: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func checkFile(t *testing.T, w *Writer, data []byte) {
	hdr, txns, err := ReadAll(bytes.NewReader(data), fuzzLimits)
	if err != nil {
		if !errors.Is(err, fieldsync.ErrDamagedFile) && !errors.Is(err, fieldsync.ErrTooLarge) {
			t.Fatalf("error of an unexpected kind: %v", err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Fatalf("error is not one line: %q", err)
		}
		return
	}
	once := reencode(t, w, hdr, txns)
	hdr2, txns2, err := ReadAll(bytes.NewReader(once), fuzzLimits)
	if err != nil {
		t.Fatalf("re-encoded file does not decode: %v", err)
	}
	if !reflect.DeepEqual(hdr2, hdr) || len(txns2) != len(txns) {
		t.Fatalf("re-encoded file decodes to %+v and %d transactions, want %+v and %d", hdr2, len(txns2), hdr, len(txns))
	}
	for i := range txns {
		if !sameTxn(txns[i], txns2[i]) {
			t.Fatalf("transaction %d changed on re-encoding:\n%+v\n%+v", i, txns[i], txns2[i])
		}
	}
	if twice := reencode(t, w, hdr2, txns2); !bytes.Equal(twice, once) {
		t.Fatal("encoding is not deterministic")
	}
}

func checkBody(t *testing.T, w *Writer, data []byte) {
	r := &Reader{
		name: "dx body",
		lim:  fuzzLimits,
		src:  &srcReader{},
		body: bufio.NewReaderSize(&limitReader{r: bytes.NewReader(data), left: fuzzLimits.MaxBodyBytes}, bodyBuffer),
	}
	var again []byte
	for {
		tx, err := r.decode()
		if err == io.EOF {
			break
		}
		if err != nil {
			if !errors.Is(err, fieldsync.ErrDamagedFile) && !errors.Is(err, fieldsync.ErrTooLarge) {
				t.Fatalf("error of an unexpected kind: %v", err)
			}
			return
		}
		rec, err := w.appendTxn(nil, &tx)
		if err != nil {
			t.Fatalf("decoded transaction does not encode: %v", err)
		}
		again = binary.AppendUvarint(again, uint64(len(rec)))
		again = append(again, rec...)
	}
	if !bytes.Equal(again, data) {
		t.Fatalf("body decodes but re-encodes differently:\n%x\n%x", data, again)
	}
}

type corpusEntry struct {
	name string
	data []byte
}

// corpus is the seed corpus: valid files of each kind, damaged ones, and
// raw bodies.
func corpus(t testing.TB) []corpusEntry {
	txns := sampleTxns()[:6] // without the 200 kB one
	small := encode(t, outboxHeader, txns[:4])
	good := record(goodRecordParts()...)
	flipped := bytes.Clone(small)
	flipped[40] ^= 0x08
	entries := []corpusEntry{
		{"valid-txnproc-empty", encode(t, Header{Kind: KindTxnproc}, nil)},
		{"valid-outbox-4", small},
		{"valid-upload-all", encode(t, Header{Kind: KindUpload, Node: "laptop-7", Number: 3}, txns)},
		{"valid-txnproc-one", encode(t, Header{Kind: KindTxnproc}, txns[5:6])},
		{"damaged-truncated", small[:len(small)/2]},
		{"damaged-flipped", flipped},
		{"damaged-magic", append([]byte("PK\x03\x04"), small[4:]...)},
		{"damaged-version", setIn(small, 4, 7, 0)},
		{"damaged-count-resealed", reseal(setIn(small, len(small)-trailerLen+4, 9))},
		{"damaged-body-resealed", sealCompressed(outboxHeader, 1, []byte("\x28\xb5\x2f\xfd garbage after a zstd magic"))},
		{"damaged-record", seal(t, outboxHeader, 1, cat(good[:5], raw(0xff), good[6:]))},
		{"body-one-purge", good},
		{"body-sample", rawBody(t, txns)},
	}
	return entries
}

func rawBody(t testing.TB, txns []fieldsync.Txn) []byte {
	var w Writer
	var b []byte
	for _, tx := range txns {
		rec, err := w.appendTxn(nil, &tx)
		if err != nil {
			t.Fatal(err)
		}
		b = binary.AppendUvarint(b, uint64(len(rec)))
		b = append(b, rec...)
	}
	return b
}

// TestWriteFuzzCorpus writes the seed corpus to testdata/fuzz/FuzzDecode
// when DX_WRITE_CORPUS is set, and otherwise checks that it is there.
func TestWriteFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	for _, c := range corpus(t) {
		path := filepath.Join(dir, c.name)
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", c.data)
		if os.Getenv("DX_WRITE_CORPUS") != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("seed corpus entry missing: %v", err)
		}
	}
}

// TestCommittedFilesDecode keeps old files readable: the valid files of the
// committed corpus, written by earlier builds, must still decode.
func TestCommittedFilesDecode(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecode", "valid-*"))
	if len(paths) == 0 {
		t.Fatal("no committed valid files")
	}
	for _, path := range paths {
		content, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lit, ok := strings.CutPrefix(string(content), "go test fuzz v1\n[]byte(")
		lit, ok2 := strings.CutSuffix(lit, ")\n")
		data, err := strconv.Unquote(lit)
		if !ok || !ok2 || err != nil {
			t.Fatalf("%s: not a corpus file", path)
		}
		if _, _, err := ReadAll(strings.NewReader(data), Limits{}); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}
