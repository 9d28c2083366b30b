package dx

import (
	"fmt"
	"hash/crc32"

	"github.com/fieldsync/fieldsync"

	"github.com/klauspost/compress/zstd"
)

// Version is the format version this build writes for a file without
// parts; a file with parts (Header.Parts) is written as VersionParts. This
// build reads both.
const (
	Version      = 1
	VersionParts = 2
)

// The byte layout; docs/dx-format.md describes it field by field.
const (
	magic        = "FSDX" // first four bytes of every .dx file
	trailerMagic = "FSDT" // first four bytes of the trailer

	fixedHeaderLen = 17 // magic, version, kind, compression, number, node length
	trailerLen     = 24 // trailer magic, count, body length, CRC-32C
	minFileLen     = fixedHeaderLen + trailerLen

	compressionZstd = 1 // the only body compression of version 1

	maxNodeLen = 255 // the node name's length is one byte
)

// Value tags: the byte before each value in a row.
const (
	tagNil    = 0
	tagFalse  = 1
	tagTrue   = 2
	tagInt    = 3 // zigzag varint
	tagFloat  = 4 // 8 bytes, IEEE 754 bits, little-endian
	tagString = 5 // uvarint length, bytes
)

// opCode is the byte that stands for op in a transaction record, 0 for an
// unknown op.
func opCode(op fieldsync.Op) byte {
	switch op {
	case fieldsync.OpInsert:
		return 1
	case fieldsync.OpUpdate:
		return 2
	case fieldsync.OpDelete:
		return 3
	case fieldsync.OpPurge:
		return 4
	}
	return 0
}

// opOf is the op a record's op byte stands for.
func opOf(code byte) (fieldsync.Op, bool) {
	switch code {
	case 1:
		return fieldsync.OpInsert, true
	case 2:
		return fieldsync.OpUpdate, true
	case 3:
		return fieldsync.OpDelete, true
	case 4:
		return fieldsync.OpPurge, true
	}
	return "", false
}

// Kind says what a .dx file is for, so a receiver can refuse a file that
// was meant for another step of the flow.
type Kind uint8

// The kinds of .dx file.
const (
	// KindTxnproc is a Transaction Processor file in docking/txnproc:
	// committed Transaction Log entries in sequence order.
	KindTxnproc Kind = 1
	// KindOutbox is a file in a node's outbox, written by the Transaction
	// Router and downloaded by the node's Remote client.
	KindOutbox Kind = 2
	// KindUpload is a file of a Remote client's own transactions, uploaded
	// to the node's inbox on the server for the Transaction Merger.
	KindUpload Kind = 3
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return k >= KindTxnproc && k <= KindUpload }

// String returns the kind's name: txnproc, outbox or upload.
func (k Kind) String() string {
	switch k {
	case KindTxnproc:
		return "txnproc"
	case KindOutbox:
		return "outbox"
	case KindUpload:
		return "upload"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Header is the file-level metadata of a .dx file. It is stored
// uncompressed at the start of the file and covered by the checksum.
type Header struct {
	// Kind says which step of the flow wrote the file.
	Kind Kind
	// Node is the node the file is for (outbox) or from (upload); "" for
	// txnproc files. When set it must be a valid node name.
	Node string
	// Number is the file's number in its sequence (outbox file number,
	// upload number), so a receiver can apply each file once and in order.
	Number uint64
	// Parts, for an outbox file that several were coalesced into, says which
	// outbox files its transactions came from, in order: the first
	// Parts[0].Txns are those of file Parts[0].Number, and so on; the last
	// part is numbered Number. A node that applied some of those files
	// skips their parts (After). Nil for every other file.
	Parts []Part
}

// Part is the transactions one outbox file coalesced into another held.
type Part struct {
	Number uint64 // the outbox file's number
	Txns   uint64 // how many transactions it held
}

// MaxParts bounds the parts of one file.
const MaxParts = 4096

// After returns the transactions of a file with header h that come from
// outbox files numbered above applied: all of them for a file without
// parts (its number says whether it is applied), else those of the parts
// above applied. txns are the file's transactions, as read.
func (h Header) After(txns []fieldsync.Txn, applied int64) []fieldsync.Txn {
	if len(h.Parts) == 0 {
		return txns
	}
	skip := uint64(0)
	for _, p := range h.Parts {
		if int64(p.Number) > applied {
			break
		}
		skip += p.Txns
	}
	return txns[min(skip, uint64(len(txns))):]
}

// checkParts checks parts against the header they are in: increasing
// numbers ending at the file's own, an outbox file, at most MaxParts.
func checkParts(h Header) error {
	if len(h.Parts) == 0 {
		return nil
	}
	switch {
	case h.Kind != KindOutbox:
		return fmt.Errorf("parts in a file of kind %s (only outbox files have parts)", h.Kind)
	case len(h.Parts) > MaxParts:
		return fmt.Errorf("%d parts, over the limit of %d", len(h.Parts), MaxParts)
	case h.Parts[len(h.Parts)-1].Number != h.Number:
		return fmt.Errorf("last part is numbered %d, the file %d", h.Parts[len(h.Parts)-1].Number, h.Number)
	}
	for i := 1; i < len(h.Parts); i++ {
		if h.Parts[i].Number <= h.Parts[i-1].Number {
			return fmt.Errorf("part %d is numbered %d, not above the one before (%d)", i+1, h.Parts[i].Number, h.Parts[i-1].Number)
		}
	}
	return nil
}

// partsTxns is the sum of the parts' transactions.
func partsTxns(parts []Part) uint64 {
	n := uint64(0)
	for _, p := range parts {
		n += p.Txns
	}
	return n
}

// Defaults for the zero fields of Limits. A Writer never produces a file that
// these defaults refuse.
const (
	DefaultMaxFileBytes = 1<<30 + 1<<20 // compressed bytes: the body limit plus room for zstd framing
	DefaultMaxBodyBytes = 1 << 30       // decompressed body bytes
	DefaultMaxTxns      = 1 << 24       // transactions in one file
	DefaultMaxTxnBytes  = 64 << 20      // one encoded transaction (and so any one string or row in it)
)

// Limits bound what a reader accepts, so that a hostile or damaged file
// cannot make it allocate without bound (huge length prefixes, decompression
// bombs). A zero or negative field takes its default.
type Limits struct {
	MaxFileBytes int64 // size of the file as stored (compressed)
	MaxBodyBytes int64 // size of the body once decompressed
	MaxTxns      int64 // number of transactions
	MaxTxnBytes  int64 // size of one encoded transaction, bounding any string or row
}

func (l Limits) withDefaults() Limits {
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultMaxFileBytes
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.MaxTxns <= 0 {
		l.MaxTxns = DefaultMaxTxns
	}
	if l.MaxTxnBytes <= 0 {
		l.MaxTxnBytes = DefaultMaxTxnBytes
	}
	return l
}

// zstd settings. Windows are kept small: transactions repeat table and column
// names within a few kilobytes, so a larger window buys almost nothing and
// costs memory per encoder and decoder.
const (
	encoderWindow = 1 << 20
	// decoderMaxWindow accepts any window up to the 8 MiB that the zstd
	// specification recommends decoders support, more than any writer of
	// this format uses.
	decoderMaxWindow = 8 << 20
)

// encoderOptions are fixed so that the same header and transactions always
// give the same bytes: a fixed level, and a single goroutine (concurrent
// block compression would make block boundaries depend on timing).
//
// zstd (github.com/klauspost/compress, pure Go, widely used and fuzzed)
// compresses transaction data about as well as flate at several times the
// speed, and decompresses faster still.
func encoderOptions() []zstd.EOption {
	return []zstd.EOption{
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(encoderWindow),
		zstd.WithEncoderCRC(true),
		zstd.WithZeroFrames(true),
		zstd.WithLowerEncoderMem(true),
	}
}

func decoderOptions(maxBody int64) []zstd.DOption {
	return []zstd.DOption{
		zstd.WithDecoderConcurrency(1), // synchronous: no goroutines to own
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(decoderMaxWindow),
		zstd.WithDecoderMaxMemory(uint64(max(maxBody, decoderMaxWindow))),
	}
}

// crcTable is CRC-32C (Castagnoli): hardware-accelerated on amd64 and arm64,
// and the usual choice of storage formats for detecting accidental damage.
func crcTable() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }
