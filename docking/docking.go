// Package docking owns the layout of the docking folder, where the server
// components hand transaction files to one another, and the names and
// numbering of the files in it:
//
//	DOCKING/
//	  txnproc/FIRST-LAST.dx       Transaction Processor files, by sequence range
//	  NODE/extract.db             the node's Database Extract
//	  NODE/outbox/N.dx            Transaction Router files waiting for the node
//	  NODE/inbox/N.dx             the node's uploads, until the Transaction Merger merged them
//	  NODE/inbox/refused/N.dx     uploads refused whole, kept for inspection
//
// Every component asks this package where a file goes and what a name
// means, so the layout has one owner. Numbered files (N.dx, here and in a
// node's own folder) are zero-padded, so a folder listing sorts them.
package docking

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Folder is a docking folder (DATA/docking).
type Folder string

// In is the docking folder of a server's data folder.
func In(dataDir string) Folder { return Folder(filepath.Join(dataDir, "docking")) }

// Txnproc is the Transaction Processor's folder.
func (f Folder) Txnproc() string { return filepath.Join(string(f), "txnproc") }

// Node is a node's folder.
func (f Folder) Node(node string) string { return filepath.Join(string(f), node) }

// Outbox is a node's outbox: the Transaction Router writes it, the
// Synchronization Manager serves and deletes its files.
func (f Folder) Outbox(node string) string { return filepath.Join(string(f), node, "outbox") }

// OutboxFile is the path of a node's outbox file number n.
func (f Folder) OutboxFile(node string, n int64) string {
	return filepath.Join(f.Outbox(node), FileName(n))
}

// Inbox is a node's server inbox: the Synchronization Manager puts the
// node's uploads there, the Transaction Merger merges and removes them.
func (f Folder) Inbox(node string) string { return filepath.Join(string(f), node, "inbox") }

// InboxFile is the path of a node's upload number n in its server inbox.
func (f Folder) InboxFile(node string, n int64) string {
	return filepath.Join(f.Inbox(node), FileName(n))
}

// Refused is where the Transaction Merger sets aside refused uploads.
func (f Folder) Refused(node string) string { return filepath.Join(f.Inbox(node), "refused") }

// Damaged is where the Transaction Merger keeps, for inspection, a node's
// upload files found damaged on the server (the node sends them again).
func (f Folder) Damaged(node string) string { return filepath.Join(f.Inbox(node), "damaged") }

// ExtractName is the name of a node's Database Extract in its folder.
const ExtractName = "extract.db"

// Extract is the path of a node's Database Extract.
func (f Folder) Extract(node string) string { return filepath.Join(string(f), node, ExtractName) }

// FileName is the name of numbered file n (outbox files, uploads, a node's
// inbox): zero-padded so names sort by number.
func FileName(n int64) string { return fmt.Sprintf("%012d.dx", n) }

// ParseFileName reads the number of a numbered file's name.
func ParseFileName(name string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSuffix(name, ".dx"), 10, 64)
	if err != nil || n <= 0 || name != FileName(n) {
		return 0, false
	}
	return n, true
}

// ParseNumber reads a positive file number given as text (in a request).
func ParseNumber(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

// File is a numbered file in a folder.
type File struct {
	Number int64 `json:"number"`
	Size   int64 `json:"size"`
}

// List lists the numbered files in dir in order, with their sizes; a
// missing folder holds none.
func List(dir string) ([]File, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return []File{}, nil
	} else if err != nil {
		return nil, err
	}
	out := []File{}
	for _, e := range ents {
		n, ok := ParseFileName(e.Name())
		if !ok {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, File{Number: n, Size: info.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// Numbers lists the numbers of the numbered files in dir, in order.
func Numbers(dir string) ([]int64, error) {
	files, err := List(dir)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(files))
	for i, f := range files {
		out[i] = f.Number
	}
	return out, nil
}

// TxnprocName is the name of the txnproc file holding sequence numbers
// first to last: zero-padded, so names sort in sequence order.
func TxnprocName(first, last int64) string { return fmt.Sprintf("%020d-%020d.dx", first, last) }

// ParseTxnprocName reads the sequence range from a txnproc file name.
func ParseTxnprocName(name string) (first, last int64, ok bool) {
	if len(name) != 44 || !strings.HasSuffix(name, ".dx") || name[20] != '-' {
		return 0, 0, false
	}
	if _, err := fmt.Sscanf(name, "%020d-%020d.dx", &first, &last); err != nil || first < 1 || last < first {
		return 0, 0, false
	}
	return first, last, true
}

// TxnprocFiles lists the txnproc files in sequence order.
func (f Folder) TxnprocFiles() ([]string, error) {
	ents, err := os.ReadDir(f.Txnproc())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if _, _, ok := ParseTxnprocName(e.Name()); ok {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}
