package dx

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/bits"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/fieldsync/fieldsync"
)

// Reader reads the transactions of a .dx file whose checksum, trailer and
// header Open has already verified. Next still checks every transaction as
// it decodes it, and that the body holds exactly the trailer's count; a
// caller that applies a file must do so all or nothing (one database
// transaction) and give up on the first error.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	name    string // "dx file" or "dx file PATH", the prefix of every error
	hdr     Header
	count   uint64
	bodyLen uint64
	lim     Limits
	file    *os.File // owned when opened by OpenFile
	src     *srcReader
	dec     *zstd.Decoder
	body    *bufio.Reader
	scratch []byte
	intern  map[string]string
	n       uint64 // transactions returned
	err     error  // sticky; io.EOF after the last transaction
}

// bodyBuffer is the largest size of the decompressed-body buffer: records
// that fit in the buffer are decoded in place.
const bodyBuffer = 64 << 10

// Open verifies the .dx file of the given size read through r: magic,
// version, size limit, trailer and the checksum over the whole file (read
// once, streaming), then the header. It returns a Reader positioned before
// the first transaction. Errors wrap fieldsync.ErrDamagedFile, or
// fieldsync.ErrTooLarge when a limit is exceeded.
func Open(r io.ReaderAt, size int64, lim Limits) (*Reader, error) {
	return open(r, size, lim, "dx file")
}

// OpenFile opens and verifies the .dx file at path as Open does; every
// error names the path. Close the Reader to close the file.
func OpenFile(path string, lim Limits) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dx file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("dx file: %w", err)
	}
	rd, err := open(f, st.Size(), lim, "dx file "+path)
	if err != nil {
		f.Close()
		return nil, err
	}
	rd.file = f
	return rd, nil
}

// ReadAll reads a whole .dx file from r, verifies it and decodes every
// transaction. It returns nothing unless the whole file is sound. The
// compressed file is held in memory (at most lim.MaxFileBytes).
func ReadAll(r io.Reader, lim Limits) (Header, []fieldsync.Txn, error) {
	lim = lim.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, lim.MaxFileBytes+1))
	if err != nil {
		return Header{}, nil, fmt.Errorf("dx file: read: %w", err)
	}
	if int64(len(data)) > lim.MaxFileBytes {
		return Header{}, nil, fieldsync.Errorf(fieldsync.ErrTooLarge, "dx file: over the limit of %d bytes", lim.MaxFileBytes)
	}
	rd, err := open(bytes.NewReader(data), int64(len(data)), lim, "dx file")
	if err != nil {
		return Header{}, nil, err
	}
	defer rd.Close()
	return rd.readAll()
}

// ReadFile reads, verifies and decodes the whole .dx file at path, as
// ReadAll does, without holding the compressed file in memory. Every error
// names the path.
func ReadFile(path string, lim Limits) (Header, []fieldsync.Txn, error) {
	rd, err := OpenFile(path, lim)
	if err != nil {
		return Header{}, nil, err
	}
	defer rd.Close()
	return rd.readAll()
}

func (r *Reader) readAll() (Header, []fieldsync.Txn, error) {
	// The count is checksummed but may be forged: the capacity hint is
	// also bounded by the compressed body's size (typical transactions
	// compress to 30-100 bytes), so memory stays in proportion to the input.
	txns := make([]fieldsync.Txn, 0, min(r.count, max(64, r.bodyLen/32)))
	for {
		t, err := r.Next()
		if err == io.EOF {
			return r.hdr, txns, nil
		}
		if err != nil {
			return Header{}, nil, err
		}
		txns = append(txns, t)
	}
}

// Header returns the file's header.
func (r *Reader) Header() Header { return r.hdr }

// Count returns the number of transactions the trailer announces.
func (r *Reader) Count() uint64 { return r.count }

// Next returns the next transaction, or io.EOF after the last one once the
// body has been checked to hold exactly Count transactions and nothing
// more. Any other error is final.
func (r *Reader) Next() (fieldsync.Txn, error) {
	if r.err != nil {
		return fieldsync.Txn{}, r.err
	}
	t, err := r.next()
	if err != nil {
		r.err = err
		r.release()
	}
	return t, err
}

// Close releases the decompressor and, when the Reader opened the file,
// closes it.
func (r *Reader) Close() error {
	if r.err == nil {
		r.err = errors.New(r.name + ": reader closed")
	}
	r.release()
	if r.file != nil {
		f := r.file
		r.file = nil
		return f.Close()
	}
	return nil
}

func (r *Reader) release() {
	if r.dec != nil {
		r.dec.Close()
		r.dec = nil
	}
}

func (r *Reader) damaged(format string, args ...any) error {
	return fieldsync.Errorf(fieldsync.ErrDamagedFile, "%s: %s", r.name, fmt.Sprintf(format, args...))
}

func (r *Reader) tooLarge(format string, args ...any) error {
	return fieldsync.Errorf(fieldsync.ErrTooLarge, "%s: %s", r.name, fmt.Sprintf(format, args...))
}

func open(ra io.ReaderAt, size int64, lim Limits, name string) (*Reader, error) {
	r := &Reader{name: name, lim: lim.withDefaults()}
	lim = r.lim
	if size < 0 {
		return nil, fmt.Errorf("%s: negative size %d", name, size)
	}

	// Magic and version come first: they say what the file is before
	// anything about its length does.
	var fixed [fixedHeaderLen]byte
	got, err := readAt(ra, fixed[:min(size, fixedHeaderLen)], 0)
	if err != nil {
		return nil, r.readErr(err)
	}
	switch {
	case len(got) < len(magic) && bytes.HasPrefix([]byte(magic), got):
		return nil, r.damaged("truncated (%d bytes)", size)
	case !bytes.HasPrefix(got, []byte(magic)):
		return nil, r.damaged("not a .dx file (bad magic)")
	case len(got) < 6:
		return nil, r.damaged("truncated (%d bytes)", size)
	}
	if v := binary.LittleEndian.Uint16(got[4:]); v != Version {
		return nil, r.damaged("unsupported version %d (this build reads version %d)", v, Version)
	}
	if size > lim.MaxFileBytes {
		return nil, r.tooLarge("%d bytes, over the limit of %d bytes", size, lim.MaxFileBytes)
	}
	if size < minFileLen {
		return nil, r.damaged("truncated (%d bytes)", size)
	}
	hdrLen := int64(fixedHeaderLen) + int64(fixed[16])
	if size < hdrLen+trailerLen {
		return nil, r.damaged("truncated (%d bytes)", size)
	}

	var tr [trailerLen]byte
	if _, err := readAt(ra, tr[:], size-trailerLen); err != nil {
		return nil, r.readErr(err)
	}
	if string(tr[:4]) != trailerMagic {
		return nil, r.damaged("truncated or damaged (no trailer at the end)")
	}
	sum, err := checksum(ra, size-4)
	if err != nil {
		return nil, r.readErr(err)
	}
	if stored := binary.LittleEndian.Uint32(tr[20:]); stored != sum {
		return nil, r.damaged("checksum mismatch")
	}

	// The checksum holds: what follows is checked to refuse files that a
	// correct writer would not produce.
	if c := fixed[7]; c != compressionZstd {
		return nil, r.damaged("unsupported compression %d", c)
	}
	r.hdr.Kind = Kind(fixed[6])
	if !r.hdr.Kind.Valid() {
		return nil, r.damaged("unknown kind %d", fixed[6])
	}
	r.hdr.Number = binary.LittleEndian.Uint64(fixed[8:])
	if n := fixed[16]; n > 0 {
		node := make([]byte, n)
		if _, err := readAt(ra, node, fixedHeaderLen); err != nil {
			return nil, r.readErr(err)
		}
		r.hdr.Node = string(node)
		if !fieldsync.ValidNodeName(r.hdr.Node) {
			return nil, r.damaged("header names node %.64q, not a valid node name", r.hdr.Node)
		}
	}
	r.count = binary.LittleEndian.Uint64(tr[4:])
	bodyLen := binary.LittleEndian.Uint64(tr[12:])
	r.bodyLen = bodyLen
	if bodyLen != uint64(size-hdrLen-trailerLen) {
		return nil, r.damaged("trailer gives a body of %d bytes, the file holds %d", bodyLen, size-hdrLen-trailerLen)
	}
	if r.count > uint64(lim.MaxTxns) {
		return nil, r.tooLarge("%d transactions, over the limit of %d", r.count, lim.MaxTxns)
	}

	r.src = &srcReader{r: io.NewSectionReader(ra, hdrLen, int64(bodyLen))}
	r.dec, err = zstd.NewReader(r.src, decoderOptions(lim.MaxBodyBytes)...)
	if err != nil {
		return nil, r.damaged("damaged body: %v", err)
	}
	// The buffer is sized for the body: a small file gets a small one.
	bufSize := int(min(bodyBuffer, max(4<<10, 16*bodyLen)))
	r.body = bufio.NewReaderSize(&limitReader{r: r.dec, left: lim.MaxBodyBytes}, bufSize)
	return r, nil
}

// readAt reads len(p) bytes at off; a short read is reported as
// io.ErrUnexpectedEOF.
func readAt(ra io.ReaderAt, p []byte, off int64) ([]byte, error) {
	n, err := ra.ReadAt(p, off)
	if n == len(p) {
		return p, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return p[:n], err
}

// checksum is the CRC-32C of the first n bytes, read in chunks.
func checksum(ra io.ReaderAt, n int64) (uint32, error) {
	h := crc32.New(crcTable())
	buf := make([]byte, min(n, 64<<10))
	if _, err := io.CopyBuffer(h, io.NewSectionReader(ra, 0, n), buf); err != nil {
		return 0, err
	}
	if _, err := readAt(ra, buf[:1], n-1); err != nil { // the section ended early
		return 0, err
	}
	return h.Sum32(), nil
}

// readErr reports an error of the underlying reader: a short read means the
// file is shorter than its size said (truncated while being read); anything
// else is an I/O error, not damage.
func (r *Reader) readErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return r.damaged("truncated (shorter than its size)")
	}
	return fmt.Errorf("%s: %w", r.name, err)
}

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
