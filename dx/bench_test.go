package dx

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
)

// benchTxns are n transactions shaped like the CRM schema's traffic:
// opportunity inserts, updates of a few fields, some deletes.
func benchTxns(n int) []fieldsync.Txn {
	rng := rand.New(rand.NewPCG(1, 2))
	stages := []string{"prospect", "qualified", "proposal", "negotiation", "closed won", "closed lost"}
	txns := make([]fieldsync.Txn, n)
	for i := range txns {
		id := fmt.Sprintf("S1-%d", 1000+i/2)
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 37 * time.Millisecond)
		t := fieldsync.Txn{Seq: int64(i + 1), Table: "opportunity", RowID: id, Time: at}
		switch r := rng.IntN(20); {
		case r < 12:
			t.Op = fieldsync.OpInsert
			t.Values = fieldsync.Row{
				"id": id, "name": fmt.Sprintf("Opportunity %d for account %d", i, rng.IntN(5000)),
				"account_id": fmt.Sprintf("S1-%d", rng.IntN(5000)), "stage": stages[rng.IntN(len(stages))],
				"amount": float64(rng.IntN(1_000_000)) / 100, "probability": int64(rng.IntN(101)),
				"close_date": fieldsync.FormatTimestamp(at.AddDate(0, 3, 0)), "owner_id": fmt.Sprintf("E-%d", rng.IntN(300)),
				"primary": rng.IntN(2) == 0, "description": nil,
			}
		case r < 19:
			t.Op = fieldsync.OpUpdate
			t.Origin = fmt.Sprintf("laptop-%d", rng.IntN(300))
			t.Values = fieldsync.Row{"stage": stages[rng.IntN(len(stages))], "amount": float64(rng.IntN(1_000_000)) / 100}
			t.Prev = fieldsync.Row{"stage": stages[rng.IntN(len(stages))], "amount": float64(rng.IntN(1_000_000)) / 100}
		default:
			t.Op = fieldsync.OpDelete
			t.Prev = fieldsync.Row{"id": id, "name": "gone", "stage": "closed lost"}
		}
		txns[i] = t
	}
	return txns
}

const benchFileTxns = 10_000

// bodySize is the decompressed size of txns, the basis of the MB/s figures.
func bodySize(b *testing.B, txns []fieldsync.Txn) int {
	var w Writer
	n := 0
	for _, t := range txns {
		rec, err := w.appendTxn(nil, &t)
		if err != nil {
			b.Fatal(err)
		}
		n += uvarintLen(uint64(len(rec))) + len(rec)
	}
	return n
}

func report(b *testing.B, txns, body, file int) {
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(txns*b.N)/s, "txn/s")
	b.ReportMetric(float64(body*b.N)/s/1e6, "MB/s")
	b.ReportMetric(float64(file)/float64(txns), "B/txn")
	b.ReportMetric(float64(body)/float64(file), "ratio")
}

// BenchmarkEncode encodes a file of 10,000 transactions with a reused
// Writer. MB/s counts decompressed (encoded, before compression) bytes.
func BenchmarkEncode(b *testing.B) {
	txns := benchTxns(benchFileTxns)
	body := bodySize(b, txns)
	var buf bytes.Buffer
	w := NewWriter(io.Discard, Header{Kind: KindTxnproc})
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		w.Reset(&buf, Header{Kind: KindTxnproc})
		for _, t := range txns {
			if err := w.Write(t); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	report(b, len(txns), body, buf.Len())
}

// BenchmarkDecode verifies and decodes a file of 10,000 transactions.
func BenchmarkDecode(b *testing.B) {
	txns := benchTxns(benchFileTxns)
	body := bodySize(b, txns)
	data := encode(b, Header{Kind: KindTxnproc}, txns)
	b.ReportAllocs()
	for b.Loop() {
		_, got, err := ReadAll(bytes.NewReader(data), Limits{})
		if err != nil || len(got) != len(txns) {
			b.Fatal(err)
		}
	}
	report(b, len(txns), body, len(data))
}

// BenchmarkSmallFile writes and reads back small files, as the router
// writes outbox files of a few transactions: the fixed cost of a file.
func BenchmarkSmallFile(b *testing.B) {
	txns := benchTxns(5)
	body := bodySize(b, txns)
	var buf bytes.Buffer
	for _, fresh := range []bool{true, false} {
		b.Run(fmt.Sprintf("new-writer=%v", fresh), func(b *testing.B) {
			w := NewWriter(io.Discard, outboxHeader)
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				if fresh {
					w = NewWriter(&buf, outboxHeader)
				} else {
					w.Reset(&buf, outboxHeader)
				}
				for _, t := range txns {
					w.Write(t)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				if _, _, err := ReadAll(bytes.NewReader(buf.Bytes()), Limits{}); err != nil {
					b.Fatal(err)
				}
			}
			report(b, len(txns), body, buf.Len())
		})
	}
}
