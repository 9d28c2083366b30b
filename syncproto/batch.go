package syncproto

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// The outbox batch: several small outbox files in one answer, so that a
// node that was away while many one-row transactions were routed to it
// pays one request for them instead of one each. The answer is a sequence
// of frames, in file order, each a 16-byte header (the file's number and
// its length, big-endian uint64s) and the file's bytes; it ends after the
// last whole frame. The server sends the node's files numbered from..to
// that are there (numbers have gaps where files were coalesced, see
// docs/sync.md), in order, as long as they fit in BatchMaxFiles and
// BatchMaxBytes together; a node fetches the ones left out on their own,
// and one it listed that does not come is no longer on the server.
const (
	RouteOutboxBatch = "GET " + Prefix + "/outbox/batch"
	OutboxBatchPath  = Prefix + "/outbox/batch"
	// ParamFrom and ParamTo, on the outbox batch: the first and last
	// numbers asked for.
	ParamFrom = "from"
	ParamTo   = "to"
	// BatchMaxFiles and BatchMaxBytes bound one batch.
	BatchMaxFiles = 4096
	BatchMaxBytes = 8 << 20
)

// OutboxBatchRange is the path of the outbox batch of files from..to.
func OutboxBatchRange(from, to int64) string {
	return OutboxBatchPath + "?" + ParamFrom + "=" + strconv.FormatInt(from, 10) + "&" + ParamTo + "=" + strconv.FormatInt(to, 10)
}

// WriteBatchFrame writes one frame of an outbox batch.
func WriteBatchFrame(w io.Writer, number int64, data []byte) error {
	var hdr [16]byte
	binary.BigEndian.PutUint64(hdr[:8], uint64(number))
	binary.BigEndian.PutUint64(hdr[8:], uint64(len(data)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

// OutboxBatch fetches the node's outbox files from..to in one request and
// hands each to fn in order, until the answer ends or fn fails. A frame
// out of order, outside from..to, past BatchMaxFiles or larger than asked
// is an error; so is an answer cut inside a frame (the files handed over
// before it stay handed over).
func (c *Client) OutboxBatch(ctx context.Context, session string, from, to int64, fn func(number int64, data []byte) error) error {
	resp, err := c.Do(ctx, http.MethodGet, OutboxBatchRange(from, to), session, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	total, want, frames := int64(0), from, 0
	for {
		var hdr [16]byte
		if _, err := io.ReadFull(br, hdr[:]); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("outbox batch from %d: %w", want, err)
		}
		num, size := int64(binary.BigEndian.Uint64(hdr[:8])), binary.BigEndian.Uint64(hdr[8:])
		if num < want || num > to || frames == BatchMaxFiles || size > uint64(BatchMaxBytes-total) {
			return fmt.Errorf("outbox batch from %d: the server sent file %d of %d bytes, not what was asked", from, num, size)
		}
		data := make([]byte, size)
		if _, err := io.ReadFull(br, data); err != nil {
			return fmt.Errorf("outbox batch: file %d cut short: %w", num, err)
		}
		if err := fn(num, data); err != nil {
			return err
		}
		total += int64(size)
		want, frames = num+1, frames+1
	}
}
