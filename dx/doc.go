// Package dx is the .dx transaction file format: how transactions travel
// between the components of the flow, and between the server and its
// Remote clients.
//
// Where .dx files sit in the flow:
//
//	Transaction Log --Transaction Processor--> docking/txnproc/*.dx   (KindTxnproc)
//	docking/txnproc --Transaction Router--> docking/NODE/outbox/*.dx  (KindOutbox, numbered per node)
//	outbox --Synchronization Manager--> Remote client inbox, applied to the local database
//	Remote client --upload--> docking/NODE/inbox/*.dx --Transaction Merger--> server database (KindUpload)
//
// A file is a small uncompressed header (magic, format version, kind, node,
// file number), a zstd-compressed body of transactions, and a trailer with
// the transaction count, the body length and a CRC-32C over everything
// before it. docs/dx-format.md gives the byte layout.
//
// Encoding streams (NewWriter, Write, Close) and is deterministic: the same
// header and transactions always give the same bytes, whatever the order in
// which Go iterates the rows' maps. Decoding verifies before it decodes:
// Open (or OpenFile) checks magic, version, size, trailer and checksum over
// the whole file, then Next decodes transactions one at a time, checking
// each. ReadAll and ReadFile return a file's transactions only if all of it
// is sound. A damaged, truncated or wrong-version file is refused with an
// error wrapping fieldsync.ErrDamagedFile; a file over a Limit with
// fieldsync.ErrTooLarge.
//
// Files are written crash-safe with WriteFile, built on AtomicFile (temp
// file, fsync, rename, fsync of the folder), which other components use for
// their own files too.
package dx
