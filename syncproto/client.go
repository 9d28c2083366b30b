package syncproto

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/durable"
	"github.com/fieldsync/fieldsync/internal/httperr"
)

// Client calls a Synchronization Manager's endpoints as one node (HTTP
// Basic: the node's name and secret). Error answers come back as
// *httperr.Error, which unwraps to the root package's sentinels. A Client
// is safe for concurrent use.
type Client struct {
	Server string // the server's URL, e.g. https://sync.example.com:7070
	Node   string
	Secret string
	HTTP   *http.Client // nil: http.DefaultClient
	// Folder is the id of the node's folder the requests come from (sent
	// as HeaderFolder; "" sends none).
	Folder string
	// Incarnation is the server database's incarnation the node's data is
	// in step with (sent as HeaderIncarnation; "" sends none).
	Incarnation string
}

// NewClient returns a Client of the server for the node.
func NewClient(server, node, secret string, hc *http.Client) *Client {
	return &Client{Server: server, Node: node, Secret: secret, HTTP: hc}
}

// Do sends a request to path (with its query) as the node, inside session
// when it is not "", with the given headers. An error answer is returned as
// an error (the response is then closed); otherwise the caller closes it.
func (c *Client) Do(ctx context.Context, method, path, session string, body io.Reader, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Server, "/")+path, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	req.SetBasicAuth(c.Node, c.Secret)
	if c.Folder != "" {
		req.Header.Set(HeaderFolder, c.Folder)
	}
	if c.Incarnation != "" {
		req.Header.Set(HeaderIncarnation, c.Incarnation)
	}
	if session != "" {
		req.Header.Set(HeaderSession, session)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the fieldsync server at %s: %w", c.Server, err)
	}
	if httperr.Failed(resp) {
		return nil, httperr.Read(resp)
	}
	return resp, nil
}

// call sends in (when not nil) as JSON and decodes the answer into out
// (when not nil).
func (c *Client) call(ctx context.Context, method, path, session string, in, out any) error {
	return c.callNumbers(ctx, method, path, session, in, out, false)
}

// callNumbers is call, decoding numbers into json.Number when exact.
func (c *Client) callNumbers(ctx context.Context, method, path, session string, in, out any, exact bool) error {
	var body io.Reader
	var hdr http.Header
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, hdr = bytes.NewReader(b), http.Header{"Content-Type": {"application/json"}}
	}
	resp, err := c.Do(ctx, method, path, session, body, hdr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	dec := json.NewDecoder(resp.Body)
	if exact {
		dec.UseNumber()
	}
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("unexpected answer to %s %s from %s: %w", method, path, c.Server, err)
	}
	return nil
}

// Start starts a session and returns the node's state. since is the
// number below the oldest upload the node still holds: State.Merged tells
// where the ones above it were merged. Past the server's limit of sessions
// it fails with fieldsync.ErrBusy.
func (c *Client) Start(ctx context.Context, since int64) (State, error) {
	return c.StartAfter(ctx, since, 0)
}

// StartAfter is Start for a node that has seen the conflicts up to
// conflictsAfter: State.Conflicts holds a page of those after it
// (State.ConflictsMore says more follow; StateAfter gives them).
func (c *Client) StartAfter(ctx context.Context, since, conflictsAfter int64) (State, error) {
	var st State
	return st, c.call(ctx, http.MethodPost, StartAfterPath(since, conflictsAfter), "", nil, &st)
}

// Probe starts a session for a node with nothing to send, unless the
// server has nothing new for it either (State.NothingNew, no session).
func (c *Client) Probe(ctx context.Context, since, conflictsAfter, extractSeq int64) (State, error) {
	var st State
	return st, c.call(ctx, http.MethodPost, ProbePath(since, conflictsAfter, extractSeq), "", nil, &st)
}

// End ends a session, recording its result ("ok" when empty), and returns
// the session as the server recorded it.
func (c *Client) End(ctx context.Context, session, result string, recovered ...string) (fieldsync.Session, error) {
	return c.EndWith(ctx, session, EndRequest{Result: result, Recovered: recovered})
}

// EndWith ends a session with the whole of an end request: with an
// acknowledgement of the outbox files applied (EndRequest.AckUpto).
func (c *Client) EndWith(ctx context.Context, session string, req EndRequest) (fieldsync.Session, error) {
	var s fieldsync.Session
	return s, c.call(ctx, http.MethodPost, EndPath(session), "", req, &s)
}

// Lost tells the server the node's copy of an outbox file it no longer
// has is damaged, which asks for a new Database Extract of the node.
func (c *Client) Lost(ctx context.Context, session string, number int64, reason string) (LostAnswer, error) {
	var a LostAnswer
	return a, c.call(ctx, http.MethodPost, LostPath, session, LostRequest{Number: number, Reason: reason}, &a)
}

// State returns the node's state during a session.
func (c *Client) State(ctx context.Context, session string) (State, error) {
	return c.StateAfter(ctx, session, 0)
}

// Settled returns the node's state once its uploads up to settled are
// merged and what their merge wrote is routed, or once the server stops
// waiting (a few seconds): with where the uploads above since were merged
// and the changes refused in them.
func (c *Client) Settled(ctx context.Context, session string, since, settled, conflictsAfter int64) (State, error) {
	var st State
	return st, c.call(ctx, http.MethodGet, SettledStatePath(since, settled, conflictsAfter), session, nil, &st)
}

// StateAfter returns the node's state during a session, with the page of
// conflicts after conflictsAfter.
func (c *Client) StateAfter(ctx context.Context, session string, conflictsAfter int64) (State, error) {
	var st State
	return st, c.call(ctx, http.MethodGet, StateAfterPath(conflictsAfter), session, nil, &st)
}

// Outbox lists the files waiting in the node's outbox.
func (c *Client) Outbox(ctx context.Context, session string) ([]OutboxFile, error) {
	var out []OutboxFile
	return out, c.call(ctx, http.MethodGet, OutboxPath, session, nil, &out)
}

// Ack acknowledges the outbox files up to and including upto: the server
// deletes them.
func (c *Client) Ack(ctx context.Context, session string, upto int64) (AckAnswer, error) {
	var out AckAnswer
	return out, c.call(ctx, http.MethodPost, AckPath, session, AckRequest{Upto: upto}, &out)
}

// Upload sends upload file number (its whole content, body).
func (c *Client) Upload(ctx context.Context, session string, number int64, body io.Reader) (UploadAnswer, error) {
	var out UploadAnswer
	resp, err := c.Do(ctx, http.MethodPut, UploadPath(number), session, body,
		http.Header{"Content-Type": {"application/octet-stream"}})
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// News waits (up to the server's news wait) for an outbox file numbered
// above after. It needs no session. A server without the endpoint answers
// fieldsync.ErrNotFound.
func (c *Client) News(ctx context.Context, after int64) (News, error) {
	var out News
	return out, c.call(ctx, http.MethodGet, NewsAfterPath(after), "", nil, &out)
}

// NewsApplied is News from a node that has applied its outbox files up to
// applied (the server deletes them): the answer carries the new files
// when they are few and small (News.Files).
func (c *Client) NewsApplied(ctx context.Context, after, applied int64) (News, error) {
	var out News
	return out, c.call(ctx, http.MethodGet, NewsAppliedPath(after, applied), "", nil, &out)
}

// Row returns a row as the server has it now, with numbers as json.Number
// (Table.CoerceRow makes them canonical). A row the node does not see
// fails with fieldsync.ErrNotFound.
func (c *Client) Row(ctx context.Context, session, table, id string) (map[string]any, error) {
	var row map[string]any
	return row, c.callNumbers(ctx, http.MethodGet, RowPath(table, id), session, nil, &row, true)
}

// FileHave returns how many bytes of the node's upload of a file the
// server holds.
func (c *Client) FileHave(ctx context.Context, session string, ref fieldsync.FileRef) (int64, error) {
	var out FileHave
	return out.Have, c.call(ctx, http.MethodGet, FileHavePath(ref), session, nil, &out)
}

// UploadFile sends a piece of an attachment file, body, that starts at
// byte offset of the file. The server keeps the file once it is whole and
// matches ref.
func (c *Client) UploadFile(ctx context.Context, session string, ref fieldsync.FileRef, offset int64, body io.Reader) (FileUploaded, error) {
	var out FileUploaded
	resp, err := c.Do(ctx, http.MethodPut, FilePath(ref), session, body, http.Header{
		"Content-Type": {"application/octet-stream"},
		HeaderOffset:   {strconv.FormatInt(offset, 10)},
	})
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// Meter counts a download's bytes as they arrive, for a progress display.
type Meter interface {
	// Begin is told, when the answer comes, how many bytes the file holds
	// already and how many more come (-1: unknown).
	Begin(have, rest int64)
	// Moved counts bytes that arrived.
	Moved(n int64)
}

// Download fetches path (an extract, outbox file or attachment file) into
// file, resuming from what file already holds: a broken transfer goes on
// from where it stopped (a server that sends the whole file again has it
// replace file's content). Every byte of the file (the part already on
// disk, then what arrives) also goes to h when h is not nil, so the file is
// verified as it comes. m, when not nil, counts the bytes. Download returns
// how many bytes it appended (0 when file was complete already).
func (c *Client) Download(ctx context.Context, session, path, file string, h hash.Hash, m Meter) (int64, error) {
	have := int64(0)
	if info, err := os.Stat(file); err == nil {
		have = info.Size()
	}
	var hdr http.Header
	if have > 0 {
		hdr = http.Header{"Range": {"bytes=" + strconv.FormatInt(have, 10) + "-"}}
	}
	resp, err := c.Do(ctx, http.MethodGet, path, session, nil, hdr)
	var he *httperr.Error
	if errors.As(err, &he) && he.Status == http.StatusRequestedRangeNotSatisfiable {
		if h != nil {
			if err := hashFile(file, h); err != nil {
				return 0, err
			}
		}
		return 0, nil // complete already
	}
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if have > 0 && resp.StatusCode != http.StatusPartialContent {
		if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, err
		}
		have = 0 // the server sent it whole
	}
	if h != nil && have > 0 {
		if err := hashFile(file, h); err != nil {
			return 0, err
		}
	}
	var body io.Reader = resp.Body
	if m != nil {
		m.Begin(have, resp.ContentLength)
		body = meteredReader{resp.Body, m}
	}
	return durable.Append(file, body, h)
}

func hashFile(path string, h hash.Hash) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(h, f)
	return err
}

// meteredReader counts the bytes read through it.
type meteredReader struct {
	r io.Reader
	m Meter
}

func (mr meteredReader) Read(p []byte) (int, error) {
	n, err := mr.r.Read(p)
	mr.m.Moved(int64(n))
	return n, err
}

// Init claims the node for a new folder (see InitRequest), inside a
// session.
func (c *Client) Init(ctx context.Context, session, folder string) (InitAnswer, error) {
	var a InitAnswer
	return a, c.call(ctx, http.MethodPost, InitPath, session, InitRequest{Folder: folder}, &a)
}
