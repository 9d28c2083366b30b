package dx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync"
)

func (r *Reader) next() (fieldsync.Txn, error) {
	t, err := r.decode()
	switch {
	case err == io.EOF && r.n != r.count:
		return fieldsync.Txn{}, r.damaged("trailer counts %d transactions, the body holds %d", r.count, r.n)
	case err != nil:
		return fieldsync.Txn{}, err
	case r.n > r.count:
		return fieldsync.Txn{}, r.damaged("the body holds more transactions than the trailer's %d", r.count)
	}
	return t, nil
}

// decode decodes the next transaction of the body; io.EOF means the body
// ended cleanly before it.
func (r *Reader) decode() (fieldsync.Txn, error) {
	size, err := r.recordLen()
	if err != nil {
		return fieldsync.Txn{}, err
	}
	if size == 0 {
		return fieldsync.Txn{}, r.damaged("transaction %d is an empty record", r.n+1)
	}
	if size > uint64(r.lim.MaxTxnBytes) {
		return fieldsync.Txn{}, r.tooLarge("transaction %d is %d bytes, over the limit of %d", r.n+1, size, r.lim.MaxTxnBytes)
	}
	rec, err := r.record(int(size))
	if err != nil {
		return fieldsync.Txn{}, err
	}
	d := recDecoder{s: string(rec), intern: r.intern}
	t := d.txn()
	if d.err != "" {
		return fieldsync.Txn{}, r.damaged("transaction %d: %s", r.n+1, d.err)
	}
	r.intern = d.intern
	r.n++
	return t, nil
}

// recordLen reads a record's length prefix; io.EOF means the body ended
// cleanly before it.
func (r *Reader) recordLen() (uint64, error) {
	var x uint64
	for i := 0; ; i++ {
		c, err := r.body.ReadByte()
		if err != nil {
			if err == io.EOF && i == 0 {
				return 0, io.EOF
			}
			return 0, r.bodyErr(err)
		}
		if i == binary.MaxVarintLen64-1 && c > 1 {
			return 0, r.damaged("transaction %d: length overflows", r.n+1)
		}
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if i+1 != uvarintLen(x) {
				return 0, r.damaged("transaction %d: length is not minimally encoded", r.n+1)
			}
			return x, nil
		}
	}
}

// record reads the next size bytes of the body. Small records are decoded
// in the read buffer; large ones are read into scratch space that grows only
// as the bytes actually arrive, so a false length cannot make it allocate.
func (r *Reader) record(size int) ([]byte, error) {
	if size <= r.body.Size() {
		b, err := r.body.Peek(size)
		if err != nil {
			return nil, r.bodyErr(err)
		}
		r.body.Discard(size)
		return b, nil
	}
	const chunk = 1 << 20
	b := r.scratch[:0]
	for len(b) < size {
		n := min(size-len(b), chunk)
		b = slices.Grow(b, n)
		if _, err := io.ReadFull(r.body, b[len(b):len(b)+n]); err != nil {
			return nil, r.bodyErr(err)
		}
		b = b[:len(b)+n]
	}
	r.scratch = b
	return b, nil
}

// bodyErr classifies an error met while reading the decompressed body.
func (r *Reader) bodyErr(err error) error {
	switch {
	case errors.Is(err, errBodyTooLarge):
		return r.tooLarge("more than %d bytes once decompressed, over the limit", r.lim.MaxBodyBytes)
	case r.src.err != nil:
		return fmt.Errorf("%s: %w", r.name, r.src.err)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return r.damaged("body ends inside transaction %d", r.n+1)
	}
	return r.damaged("damaged body: %v", err)
}

var errBodyTooLarge = errors.New("decompressed body over the limit")

// limitReader fails once more than left bytes have come out of r.
type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return 0, errBodyTooLarge
	}
	return n, err
}

// srcReader remembers an I/O error of the compressed source, so that it is
// not mistaken for damage when it comes back through the decompressor.
type srcReader struct {
	r   io.Reader
	err error
}

func (s *srcReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// recDecoder decodes one transaction record. The record is converted to a
// string once, and the transaction's row id and text values are substrings
// of it: one allocation per record instead of one per value. Every length
// is checked against what is left of the record before use; err names the
// first problem.
type recDecoder struct {
	s      string
	err    string
	intern map[string]string
}

func (d *recDecoder) fail(format string, args ...any) {
	if d.err == "" {
		d.err = fmt.Sprintf(format, args...)
	}
	d.s = ""
}

func (d *recDecoder) uvarint(what string) uint64 {
	var x uint64
	for i := 0; i < len(d.s) && i < binary.MaxVarintLen64; i++ {
		c := d.s[i]
		if i == binary.MaxVarintLen64-1 && c > 1 {
			break // overflow
		}
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if i+1 != uvarintLen(x) {
				d.fail("%s is not minimally encoded", what)
				return 0
			}
			d.s = d.s[i+1:]
			return x
		}
	}
	d.fail("%s is cut short or overflows", what)
	return 0
}

func (d *recDecoder) varint(what string) int64 {
	u := d.uvarint(what)
	return int64(u>>1) ^ -int64(u&1)
}

func (d *recDecoder) byte(what string) byte {
	if len(d.s) == 0 {
		d.fail("%s is missing", what)
		return 0
	}
	c := d.s[0]
	d.s = d.s[1:]
	return c
}

// str decodes a length-prefixed string.
func (d *recDecoder) str(what string) string {
	n := d.uvarint(what)
	if n > uint64(len(d.s)) {
		d.fail("%s length %d runs past the record", what, n)
		return ""
	}
	v := d.s[:n]
	d.s = d.s[n:]
	return v
}

// name decodes a string that repeats across transactions (table, origin,
// column name) and shares one copy of each, up to a bound. The copies are
// independent of the record.
func (d *recDecoder) name(what string) string {
	v := d.str(what)
	if s, ok := d.intern[v]; ok {
		return s
	}
	d.checkText(what, v)
	if len(d.intern) >= 4096 || d.err != "" {
		return v
	}
	s := strings.Clone(v)
	if d.intern == nil {
		d.intern = make(map[string]string)
	}
	d.intern[s] = s
	return s
}

// checkText fails when a name or row id is not text every database
// stores: a correct writer takes them from the schema and valid ids. (Text
// values are the write path's to check: Column.Coerce.)
func (d *recDecoder) checkText(what, s string) {
	if d.err == "" {
		if err := fieldsync.CheckText(s); err != nil {
			d.fail("%s: %v", what, err)
		}
	}
}

func (d *recDecoder) txn() fieldsync.Txn {
	var t fieldsync.Txn
	t.Seq = d.varint("sequence number")
	code := d.byte("op")
	op, ok := opOf(code)
	if !ok && d.err == "" {
		d.fail("unknown op %d", code)
	}
	t.Op = op
	t.Table = d.name("table")
	t.RowID = d.str("row id")
	d.checkText("row id", t.RowID)
	t.Origin = d.name("origin")
	sec := d.varint("time")
	nsec := d.uvarint("time nanoseconds")
	if nsec >= 1e9 && d.err == "" {
		d.fail("time nanoseconds %d out of range", nsec)
	}
	t.Time = time.Unix(sec, int64(nsec)).UTC()
	t.Values = d.row("values")
	t.Prev = d.row("previous values")
	if len(d.s) > 0 && d.err == "" {
		d.fail("%d unexpected bytes at the end", len(d.s))
	}
	return t
}

func (d *recDecoder) row(what string) fieldsync.Row {
	if d.err != "" {
		return nil
	}
	n := d.uvarint("column count")
	if d.err != "" {
		d.err = what + ": " + d.err
	}
	if n == 0 || d.err != "" {
		return nil
	}
	if n > uint64(len(d.s)/2) { // a column takes at least two bytes
		d.fail("%s: %d columns cannot fit in the record", what, n)
		return nil
	}
	r := make(fieldsync.Row, n)
	prev := ""
	for i := uint64(0); i < n; i++ {
		k := d.name("column name")
		if d.err == "" && i > 0 && k <= prev {
			d.fail("column out of order or repeated")
		}
		prev = k
		if d.err == "" {
			switch tag := d.byte("value"); tag {
			case tagNil:
				r[k] = nil
			case tagFalse:
				r[k] = false
			case tagTrue:
				r[k] = true
			case tagInt:
				r[k] = d.varint("integer")
			case tagFloat:
				if len(d.s) < 8 {
					d.fail("real number is cut short")
					break
				}
				var f [8]byte
				copy(f[:], d.s)
				r[k] = math.Float64frombits(binary.LittleEndian.Uint64(f[:]))
				d.s = d.s[8:]
			case tagString:
				r[k] = d.str("text")
			default:
				d.fail("unknown value tag %d", tag)
			}
		}
		if d.err != "" {
			d.err = what + ": column " + strconv.Quote(k) + ": " + d.err
			return nil
		}
	}
	return r
}
