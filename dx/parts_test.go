package dx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"reflect"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
)

// mergedHeader is an outbox file that files 7, 9 and 12 were merged into.
func mergedHeader(txns uint64) Header {
	return Header{Kind: KindOutbox, Node: "laptop-7", Number: 12,
		Parts: []Part{{Number: 7, Txns: 1}, {Number: 9, Txns: 2}, {Number: 12, Txns: txns - 3}}}
}

func TestPartsRoundTrip(t *testing.T) {
	txns := sampleTxns()
	hdr := mergedHeader(uint64(len(txns)))
	data := encode(t, hdr, txns)
	if v := binary.LittleEndian.Uint16(data[4:]); v != VersionParts {
		t.Fatalf("a file with parts is version %d, want %d", v, VersionParts)
	}
	got, read, err := ReadAll(bytes.NewReader(data), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, hdr) {
		t.Fatalf("header %+v, want %+v", got, hdr)
	}
	checkSame(t, read, txns)
	if plain := encode(t, outboxHeader, txns); binary.LittleEndian.Uint16(plain[4:]) != Version {
		t.Fatalf("a file without parts is not version %d", Version)
	}
}

func TestPartsAfter(t *testing.T) {
	txns := sampleTxns()
	hdr := mergedHeader(uint64(len(txns)))
	for _, c := range []struct {
		applied int64
		skip    int
	}{{0, 0}, {6, 0}, {7, 1}, {8, 1}, {9, 3}, {11, 3}, {12, len(txns)}, {99, len(txns)}} {
		if got := hdr.After(txns, c.applied); len(got) != len(txns)-c.skip || (len(got) > 0 && got[0].Seq != txns[c.skip].Seq) {
			t.Errorf("after %d: %d transactions, want the last %d", c.applied, len(got), len(txns)-c.skip)
		}
	}
	if got := outboxHeader.After(txns, 99); len(got) != len(txns) {
		t.Errorf("a file without parts: After kept %d of %d", len(got), len(txns))
	}
}

func TestPartsWriterRefuses(t *testing.T) {
	txns := sampleTxns()
	n := uint64(len(txns))
	for name, c := range map[string]struct {
		hdr  Header
		want string
	}{
		"txnproc":        {Header{Kind: KindTxnproc, Parts: []Part{{Number: 0, Txns: n}}}, "parts in a file of kind txnproc"},
		"last not file":  {Header{Kind: KindOutbox, Node: "a", Number: 5, Parts: []Part{{Number: 4, Txns: n}}}, "last part is numbered 4, the file 5"},
		"not increasing": {Header{Kind: KindOutbox, Node: "a", Number: 5, Parts: []Part{{Number: 5, Txns: 1}, {Number: 5, Txns: n - 1}}}, "part 2 is numbered 5"},
		"count":          {Header{Kind: KindOutbox, Node: "a", Number: 5, Parts: []Part{{Number: 3, Txns: 1}, {Number: 5, Txns: n}}}, "parts hold"},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf, c.hdr)
			for _, tx := range txns {
				w.Write(tx)
			}
			err := w.Close()
			if !errors.Is(err, fieldsync.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want ErrInvalid containing %q", err, c.want)
			}
		})
	}
}

// TestPartsDamaged: a version 2 header whose parts a correct writer would
// not write is refused as damaged, even with a good checksum.
func TestPartsDamaged(t *testing.T) {
	txns := sampleTxns()
	data := encode(t, mergedHeader(uint64(len(txns))), txns)
	partsAt := fixedHeaderLen + len("laptop-7")
	forge := func(f func(b []byte)) []byte {
		b := bytes.Clone(data)
		f(b)
		binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], crcTable()))
		return b
	}
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"no parts":   {forge(func(b []byte) { binary.LittleEndian.PutUint16(b[partsAt:], 0) }), "header holds 0 parts"},
		"too many":   {forge(func(b []byte) { binary.LittleEndian.PutUint16(b[partsAt:], MaxParts+1) }), "header holds 4097 parts"},
		"past end":   {forge(func(b []byte) { binary.LittleEndian.PutUint16(b[partsAt:], 4000) }), "truncated"},
		"sum":        {forge(func(b []byte) { binary.LittleEndian.PutUint64(b[partsAt+2+8:], 2) }), "parts hold"},
		"order":      {forge(func(b []byte) { binary.LittleEndian.PutUint64(b[partsAt+2+16:], 7) }), "not above the one before"},
		"last":       {forge(func(b []byte) { binary.LittleEndian.PutUint64(b[partsAt+2+32:], 13) }), "last part is numbered 13, the file 12"},
		"in upload":  {forge(func(b []byte) { b[6] = byte(KindUpload) }), "parts in a file of kind upload"},
		"unresealed": {func() []byte { b := bytes.Clone(data); b[partsAt+3]++; return b }(), "checksum mismatch"},
	} {
		t.Run(name, func(t *testing.T) {
			err := readBoth(t, c.data, Limits{})
			if !errors.Is(err, fieldsync.ErrDamagedFile) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want a damaged file containing %q", err, c.want)
			}
		})
	}
}
