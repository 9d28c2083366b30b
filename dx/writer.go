package dx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"

	"github.com/klauspost/compress/zstd"

	"github.com/fieldsync/fieldsync"
)

// Writer encodes a stream of transactions as one .dx file. It holds one
// transaction at a time (plus the compressor's window), never the whole
// file. The same header and transactions always give the same bytes.
//
// A Writer is not safe for concurrent use. Reset lets one Writer, and its
// compressor, write many files in turn.
type Writer struct {
	out    sink
	enc    *zstd.Encoder
	hdrLen int64
	count  uint64
	body   int64    // decompressed body bytes written
	rec    []byte   // the transaction being encoded
	keys   []string // a row's column names, sorted
	err    error    // sticky: an I/O failure, a bad header, or Close's result
	closed bool
	parts  uint64 // the transactions the header's parts hold (0: no parts)
	// Unsynced makes WriteFile commit its files without fsync
	// (durable.AtomicFile.CommitUnsynced): for files rebuilt from a
	// durable source when missing or damaged.
	Unsynced bool
}

// NewWriter returns a Writer that writes a .dx file with the given header to
// dst. Nothing is complete until Close. An invalid header makes every Write
// and Close fail.
func NewWriter(dst io.Writer, hdr Header) *Writer {
	w := new(Writer)
	w.Reset(dst, hdr)
	return w
}

// Reset discards the Writer's state and starts a new file with the given
// header on dst, reusing the compressor: a caller that writes many files
// keeps one Writer and saves the compressor's allocation on each. Whatever
// was not closed is lost. The zero Writer is ready for Reset.
func (w *Writer) Reset(dst io.Writer, hdr Header) {
	w.out = sink{w: dst, crc: crcTable(), buf: w.out.buf[:0]}
	w.count, w.body, w.err, w.closed = 0, 0, nil, false
	if w.enc == nil {
		enc, err := zstd.NewWriter(nil, encoderOptions()...)
		if err != nil {
			w.err = fmt.Errorf("dx: zstd encoder: %w", err)
			return
		}
		w.enc = enc
	}
	if err := checkHeader(hdr); err != nil {
		w.err = err
		w.enc.Reset(io.Discard)
		return
	}
	w.parts = partsTxns(hdr.Parts)
	b := append([]byte(nil), magic...)
	if len(hdr.Parts) > 0 {
		b = binary.LittleEndian.AppendUint16(b, VersionParts)
	} else {
		b = binary.LittleEndian.AppendUint16(b, Version)
	}
	b = append(b, byte(hdr.Kind), compressionZstd)
	b = binary.LittleEndian.AppendUint64(b, hdr.Number)
	b = append(b, byte(len(hdr.Node)))
	b = append(b, hdr.Node...)
	if len(hdr.Parts) > 0 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(hdr.Parts)))
		for _, p := range hdr.Parts {
			b = binary.LittleEndian.AppendUint64(b, p.Number)
			b = binary.LittleEndian.AppendUint64(b, p.Txns)
		}
	}
	w.hdrLen = int64(len(b))
	w.out.Write(b)
	w.enc.Reset(&w.out)
}

func checkHeader(h Header) error {
	if !h.Kind.Valid() {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "dx: header has unknown kind %d", h.Kind)
	}
	if h.Node != "" && !fieldsync.ValidNodeName(h.Node) {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "dx: header names node %q, not a valid node name", h.Node)
	}
	if err := checkParts(h); err != nil {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "dx: header: %v", err)
	}
	return nil
}

// Write appends one transaction. A transaction that cannot be encoded (an
// unknown op, a value that is not canonical) or that would make the file
// exceed the default Limits is refused with an error and leaves the file as
// it was; an I/O error is final.
func (w *Writer) Write(t fieldsync.Txn) error {
	if w.err != nil {
		return w.err
	}
	if w.closed || w.enc == nil {
		return errors.New("dx: write to a closed (or never reset) writer")
	}
	rec, err := w.appendTxn(w.rec[:0], &t)
	w.rec = rec
	if err != nil {
		return err
	}
	var pre [binary.MaxVarintLen64]byte
	prefix := binary.AppendUvarint(pre[:0], uint64(len(rec)))
	switch {
	case int64(len(rec)) > DefaultMaxTxnBytes:
		return fieldsync.Errorf(fieldsync.ErrTooLarge, "dx: transaction %d (%s %s) encodes to %d bytes, over the limit of %d",
			t.Seq, t.Table, t.RowID, len(rec), DefaultMaxTxnBytes)
	case w.count+1 > DefaultMaxTxns:
		return fieldsync.Errorf(fieldsync.ErrTooLarge, "dx: file would hold more than %d transactions", DefaultMaxTxns)
	case w.body+int64(len(prefix)+len(rec)) > DefaultMaxBodyBytes:
		return fieldsync.Errorf(fieldsync.ErrTooLarge, "dx: file would exceed %d bytes of transactions", DefaultMaxBodyBytes)
	}
	if _, err := w.enc.Write(prefix); err != nil {
		return w.fail(err)
	}
	if _, err := w.enc.Write(rec); err != nil {
		return w.fail(err)
	}
	w.count++
	w.body += int64(len(prefix) + len(rec))
	if cap(rec) > 1<<20 {
		w.rec = nil // do not keep a rare huge transaction's buffer
	}
	return nil
}

func (w *Writer) fail(err error) error {
	w.err = fmt.Errorf("dx: write: %w", err)
	return w.err
}

// Close finishes the file: it flushes the compressed body and writes the
// trailer (transaction count, body length, checksum). It does not close the
// underlying writer. Calling Close again returns the first call's result.
func (w *Writer) Close() error {
	if w.closed || w.err != nil {
		return w.err
	}
	if w.enc == nil {
		return errors.New("dx: close of a never reset writer")
	}
	w.closed = true
	if w.parts > 0 && w.parts != w.count {
		w.err = fieldsync.Errorf(fieldsync.ErrInvalid, "dx: the header's parts hold %d transactions, the file %d", w.parts, w.count)
		return w.err
	}
	if err := w.enc.Close(); err != nil {
		return w.fail(err)
	}
	bodyLen := w.out.n - w.hdrLen
	t := append([]byte(nil), trailerMagic...)
	t = binary.LittleEndian.AppendUint64(t, w.count)
	t = binary.LittleEndian.AppendUint64(t, uint64(bodyLen))
	w.out.Write(t)
	w.out.Write(binary.LittleEndian.AppendUint32(nil, w.out.sum))
	if err := w.out.flush(); err != nil {
		return w.fail(err)
	}
	return nil
}

// appendTxn appends the record of one transaction (without its length).
func (w *Writer) appendTxn(b []byte, t *fieldsync.Txn) ([]byte, error) {
	op := opCode(t.Op)
	if op == 0 {
		return b, fieldsync.Errorf(fieldsync.ErrInvalid, "dx: transaction %d (%s %s) has unknown op %q", t.Seq, t.Table, t.RowID, t.Op)
	}
	b = binary.AppendVarint(b, t.Seq)
	b = append(b, op)
	b = appendString(b, t.Table)
	b = appendString(b, t.RowID)
	b = appendString(b, t.Origin)
	b = binary.AppendVarint(b, t.Time.Unix())
	b = binary.AppendUvarint(b, uint64(t.Time.Nanosecond()))
	var err error
	if b, err = w.appendRow(b, t.Values); err != nil {
		return b, fieldsync.Errorf(fieldsync.ErrInvalid, "dx: transaction %d (%s %s) values: %v", t.Seq, t.Table, t.RowID, err)
	}
	if b, err = w.appendRow(b, t.Prev); err != nil {
		return b, fieldsync.Errorf(fieldsync.ErrInvalid, "dx: transaction %d (%s %s) previous values: %v", t.Seq, t.Table, t.RowID, err)
	}
	return b, nil
}

// appendRow appends a row with its columns sorted by name, so that map
// iteration order never reaches the file.
func (w *Writer) appendRow(b []byte, r fieldsync.Row) ([]byte, error) {
	keys := w.keys[:0]
	for k := range r {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w.keys = keys[:0]
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		switch v := r[k].(type) {
		case nil:
			b = append(b, tagNil)
		case bool:
			if v {
				b = append(b, tagTrue)
			} else {
				b = append(b, tagFalse)
			}
		case int64:
			b = append(b, tagInt)
			b = binary.AppendVarint(b, v)
		case float64:
			b = append(b, tagFloat)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		case string:
			b = append(b, tagString)
			b = appendString(b, v)
		default:
			return b, fmt.Errorf("column %s has unsupported type %T (want nil, string, int64, float64 or bool)", k, v)
		}
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// sink buffers the file's bytes on their way to the destination, counting
// them and keeping the running checksum.
type sink struct {
	w   io.Writer
	crc *crc32.Table
	sum uint32
	n   int64
	buf []byte
	err error
}

const sinkBuffer = 64 << 10

func (s *sink) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	s.sum = crc32.Update(s.sum, s.crc, p)
	s.n += int64(len(p))
	if len(s.buf)+len(p) > sinkBuffer {
		if err := s.flush(); err != nil {
			return 0, err
		}
		if len(p) >= sinkBuffer {
			if _, err := s.w.Write(p); err != nil {
				s.err = err
				return 0, err
			}
			return len(p), nil
		}
	}
	if s.buf == nil {
		s.buf = make([]byte, 0, sinkBuffer)
	}
	s.buf = append(s.buf, p...)
	return len(p), nil
}

func (s *sink) flush() error {
	if s.err != nil {
		return s.err
	}
	if len(s.buf) > 0 {
		if _, err := s.w.Write(s.buf); err != nil {
			s.err = err
			return err
		}
		s.buf = s.buf[:0]
	}
	return nil
}

// detach drops the reference to the destination once WriteFile is done
// with it; until the next Reset, writing fails.
func (s *sink) detach() {
	s.w = nil
	if s.err == nil {
		s.err = errors.New("the file is finished; Reset the Writer to write another")
	}
}
