package dx

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

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
	name    string // "dx file", "dx file PATH" or ReadFileAs's name: the prefix of every error
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
	return openFile(path, "dx file "+path, lim)
}

// OpenFileAs is OpenFile whose check errors begin with name instead of
// the path, as ReadFileAs's do: a merger streams a node's upload with it
// and tells the node about "upload 7", never a path on the server.
func OpenFileAs(path, name string, lim Limits) (*Reader, error) {
	return openFile(path, name, lim)
}

func openFile(path, name string, lim Limits) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	rd, err := open(f, st.Size(), lim, name)
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
	return ReadFileAs(path, "dx file "+path, lim)
}

// ReadFileAs is ReadFile for a file whose path is not for the reader of
// its errors: the errors of its checks (damaged, too large) begin with
// name instead ("upload 7"), so that a refusal sent to a node names its own
// upload, not a path on the server. Errors of the file system still name
// the path.
func ReadFileAs(path, name string, lim Limits) (Header, []fieldsync.Txn, error) {
	rd, err := openFile(path, name, lim)
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
	v := binary.LittleEndian.Uint16(got[4:])
	if v != Version && v != VersionParts {
		return nil, r.damaged("unsupported version %d (this build reads versions %d and %d)", v, Version, VersionParts)
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

	tr, err := r.verify(ra, size)
	if err != nil {
		return nil, err
	}
	if err := r.header(ra, fixed); err != nil {
		return nil, err
	}
	r.count = binary.LittleEndian.Uint64(tr[4:])
	if v == VersionParts {
		if hdrLen, err = r.parts(ra, hdrLen, size); err != nil {
			return nil, err
		}
	}
	bodyLen := binary.LittleEndian.Uint64(tr[12:])
	r.bodyLen = bodyLen
	if bodyLen != uint64(size-hdrLen-trailerLen) {
		return nil, r.damaged("trailer gives a body of %d bytes, the file holds %d", bodyLen, size-hdrLen-trailerLen)
	}
	if r.count > uint64(lim.MaxTxns) {
		return nil, r.tooLarge("%d transactions, over the limit of %d", r.count, lim.MaxTxns)
	}
	if err := r.startBody(ra, hdrLen); err != nil {
		return nil, err
	}
	return r, nil
}

// verify reads the trailer and checks the whole file's checksum.
func (r *Reader) verify(ra io.ReaderAt, size int64) ([trailerLen]byte, error) {
	var tr [trailerLen]byte
	if _, err := readAt(ra, tr[:], size-trailerLen); err != nil {
		return tr, r.readErr(err)
	}
	if string(tr[:4]) != trailerMagic {
		return tr, r.damaged("truncated or damaged (no trailer at the end)")
	}
	sum, err := checksum(ra, size-4)
	if err != nil {
		return tr, r.readErr(err)
	}
	if stored := binary.LittleEndian.Uint32(tr[20:]); stored != sum {
		return tr, r.damaged("checksum mismatch")
	}
	return tr, nil
}

// header reads the header's fields. The checksum holds: what is checked
// here refuses files that a correct writer would not produce.
func (r *Reader) header(ra io.ReaderAt, fixed [fixedHeaderLen]byte) error {
	if c := fixed[7]; c != compressionZstd {
		return r.damaged("unsupported compression %d", c)
	}
	r.hdr.Kind = Kind(fixed[6])
	if !r.hdr.Kind.Valid() {
		return r.damaged("unknown kind %d", fixed[6])
	}
	r.hdr.Number = binary.LittleEndian.Uint64(fixed[8:])
	if n := fixed[16]; n > 0 {
		node := make([]byte, n)
		if _, err := readAt(ra, node, fixedHeaderLen); err != nil {
			return r.readErr(err)
		}
		r.hdr.Node = string(node)
		if !fieldsync.ValidNodeName(r.hdr.Node) {
			return r.damaged("header names node %.64q, not a valid node name", r.hdr.Node)
		}
	}
	return nil
}

// parts reads the parts of a version 2 header, which follow the node's
// name at off, and returns where the body starts.
func (r *Reader) parts(ra io.ReaderAt, off, size int64) (int64, error) {
	var nb [2]byte
	if off+2+trailerLen > size {
		return 0, r.damaged("truncated (%d bytes)", size)
	}
	if _, err := readAt(ra, nb[:], off); err != nil {
		return 0, r.readErr(err)
	}
	n := int64(binary.LittleEndian.Uint16(nb[:]))
	if n == 0 || n > MaxParts {
		return 0, r.damaged("header holds %d parts (1 to %d in a version %d file)", n, MaxParts, VersionParts)
	}
	end := off + 2 + 16*n
	if end+trailerLen > size {
		return 0, r.damaged("truncated (%d bytes)", size)
	}
	buf := make([]byte, 16*n)
	if _, err := readAt(ra, buf, off+2); err != nil {
		return 0, r.readErr(err)
	}
	r.hdr.Parts = make([]Part, n)
	for i := range r.hdr.Parts {
		r.hdr.Parts[i] = Part{Number: binary.LittleEndian.Uint64(buf[16*i:]), Txns: binary.LittleEndian.Uint64(buf[16*i+8:])}
	}
	if err := checkParts(r.hdr); err != nil {
		return 0, r.damaged("header: %v", err)
	}
	if sum := partsTxns(r.hdr.Parts); sum != r.count {
		return 0, r.damaged("header's parts hold %d transactions, the trailer %d", sum, r.count)
	}
	return end, nil
}

// startBody sets up the decompression of the body.
func (r *Reader) startBody(ra io.ReaderAt, hdrLen int64) error {
	r.src = &srcReader{r: io.NewSectionReader(ra, hdrLen, int64(r.bodyLen))}
	var err error
	r.dec, err = zstd.NewReader(r.src, decoderOptions(r.lim.MaxBodyBytes)...)
	if err != nil {
		return r.damaged("damaged body: %v", err)
	}
	// The buffer is sized for the body: a small file gets a small one.
	bufSize := int(min(bodyBuffer, max(4<<10, 16*r.bodyLen)))
	r.body = bufio.NewReaderSize(&limitReader{r: r.dec, left: r.lim.MaxBodyBytes}, bufSize)
	return nil
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
