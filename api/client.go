package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/httperr"
)

// Client calls the API of a fieldsync server. The zero HTTP field uses
// http.DefaultClient. A Client is safe for concurrent use; do not copy one
// after first use.
//
// Rows come back with the same Go types a remote client's local database
// gives for the same columns (client.Client.Get): text, timestamp and file
// columns as string, integer columns as int64, real columns as float64,
// boolean as bool, null as nil. The Client learns the column types from
// GET /api/v1/schema once (again when a row names a table or column it
// does not know); a number in a column the server's schema does not name
// stays a json.Number. Error answers are *Error.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:7070
	Token   string // the bearer token
	// User and Password, when User is set, are a connected user's
	// credentials, sent instead of the token (HTTP Basic).
	User, Password string
	HTTP           *http.Client

	mu    sync.Mutex
	types map[string]map[string]fieldsync.ColumnType // nil: not fetched yet
}

// HTTPClient returns an HTTP client for Client.HTTP that also trusts the
// certificate authorities in caPEM (PEM text), for an https:// server whose
// certificate the system does not trust.
func HTTPClient(caPEM string) (*http.Client, error) {
	tc, err := fieldsync.TLSTrusting(caPEM)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr}, nil
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.setAuth(req)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the fieldsync server at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read answer of %s: %w", c.BaseURL, err)
	}
	if httperr.Failed(resp) {
		resp.Body = io.NopCloser(bytes.NewReader(data))
		return httperr.Read(resp)
	}
	if out == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("unexpected answer from %s: %w", c.BaseURL, err)
	}
	return nil
}

func recordPath(table string, id ...string) string {
	p := "/api/v1/records/" + url.PathEscape(table)
	for _, s := range id {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// Create inserts a row and returns it as stored (with its id).
func (c *Client) Create(ctx context.Context, table string, vals map[string]any) (map[string]any, error) {
	var row map[string]any
	if err := c.do(ctx, http.MethodPost, recordPath(table), vals, &row); err != nil {
		return nil, err
	}
	return row, c.typed(ctx, table, row)
}

// Get returns one row.
func (c *Client) Get(ctx context.Context, table, id string) (map[string]any, error) {
	var row map[string]any
	if err := c.do(ctx, http.MethodGet, recordPath(table, id), nil, &row); err != nil {
		return nil, err
	}
	return row, c.typed(ctx, table, row)
}

// ListPage is one page of List.
type ListPage struct {
	Rows []map[string]any `json:"rows"`
	Next string           `json:"next"`
}

// List returns one page of rows matching equality filters (a nil value
// matches null), after the given id.
func (c *Client) List(ctx context.Context, table string, where map[string]any, after string, limit int) (ListPage, error) {
	q := url.Values{}
	var nulls []string
	for k, v := range where {
		if v == nil {
			nulls = append(nulls, k)
			continue
		}
		q.Set(k, fmt.Sprint(v))
	}
	if len(nulls) > 0 {
		q.Set("_null", strings.Join(nulls, ","))
	}
	if after != "" {
		q.Set("_after", after)
	}
	if limit > 0 {
		q.Set("_limit", fmt.Sprint(limit))
	}
	path := recordPath(table)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var page ListPage
	if err := c.do(ctx, http.MethodGet, path, nil, &page); err != nil {
		return page, err
	}
	return page, c.typed(ctx, table, page.Rows...)
}

// Update changes columns of a row and returns it as stored.
func (c *Client) Update(ctx context.Context, table, id string, vals map[string]any) (map[string]any, error) {
	var row map[string]any
	if err := c.do(ctx, http.MethodPatch, recordPath(table, id), vals, &row); err != nil {
		return nil, err
	}
	return row, c.typed(ctx, table, row)
}

// Batch applies several changes in one database transaction: all of them
// or none. The answer names the row of each change, in order.
func (c *Client) Batch(ctx context.Context, changes ...BatchChange) (BatchResult, error) {
	var res BatchResult
	err := c.do(ctx, http.MethodPost, "/api/v1/records", BatchRequest{Changes: changes}, &res)
	return res, err
}

// Delete deletes a row (and what its foreign keys cascade to).
func (c *Client) Delete(ctx context.Context, table, id string) error {
	return c.do(ctx, http.MethodDelete, recordPath(table, id), nil, nil)
}

// AddNode registers a node for an employee; the answer holds its secret.
func (c *Client) AddNode(ctx context.Context, name, employeeID string) (AddedNode, error) {
	var out AddedNode
	return out, c.do(ctx, http.MethodPost, "/api/v1/admin/nodes", NewNode{Name: name, EmployeeID: employeeID}, &out)
}

// ListNodes returns every node.
func (c *Client) ListNodes(ctx context.Context) ([]fieldsync.Node, error) {
	var out struct {
		Nodes []fieldsync.Node `json:"nodes"`
	}
	return out.Nodes, c.do(ctx, http.MethodGet, "/api/v1/admin/nodes", nil, &out)
}

// Node returns one node.
func (c *Client) Node(ctx context.Context, name string) (fieldsync.Node, error) {
	var n fieldsync.Node
	return n, c.do(ctx, http.MethodGet, "/api/v1/admin/nodes/"+url.PathEscape(name), nil, &n)
}

// DeactivateNode stops a node from synchronizing.
func (c *Client) DeactivateNode(ctx context.Context, name string) (fieldsync.Node, error) {
	var n fieldsync.Node
	return n, c.do(ctx, http.MethodPost, "/api/v1/admin/nodes/"+url.PathEscape(name)+"/deactivate", nil, &n)
}

// ResumeNode merges again the uploads of a node a refusal stopped.
func (c *Client) ResumeNode(ctx context.Context, name string) (fieldsync.Node, error) {
	var n fieldsync.Node
	return n, c.do(ctx, http.MethodPost, "/api/v1/admin/nodes/"+url.PathEscape(name)+"/resume", nil, &n)
}

// ResetSecret gives a node a new secret and returns it; the old one stops
// working at once.
func (c *Client) ResetSecret(ctx context.Context, name string) (string, error) {
	var out NewSecret
	err := c.do(ctx, http.MethodPost, "/api/v1/admin/nodes/"+url.PathEscape(name)+"/secret", nil, &out)
	return out.Secret, err
}

// Reextract takes a new Database Extract of a node.
func (c *Client) Reextract(ctx context.Context, name string) (map[string]any, error) {
	var out map[string]any
	return out, c.do(ctx, http.MethodPost, "/api/v1/admin/nodes/"+url.PathEscape(name)+"/reextract", nil, &out)
}

// ReextractAll asks for a new Database Extract of every active node; the
// Database Extract takes them in the background. It returns their names.
func (c *Client) ReextractAll(ctx context.Context) ([]string, error) {
	var out struct {
		Requested []string `json:"requested"`
	}
	return out.Requested, c.do(ctx, http.MethodPost, "/api/v1/admin/reextract", nil, &out)
}

// Status returns the administrator's view.
func (c *Client) Status(ctx context.Context) (fieldsync.Status, error) {
	var s fieldsync.Status
	return s, c.do(ctx, http.MethodGet, "/api/v1/admin/status", nil, &s)
}

// Conflicts returns the recorded conflicts, of one node or ("") of all,
// fetching every page.
func (c *Client) Conflicts(ctx context.Context, node string) ([]fieldsync.Conflict, error) {
	out := []fieldsync.Conflict{}
	q := fieldsync.ConflictQuery{Node: node, Limit: fieldsync.MaxConflictPage}
	for {
		page, err := c.ConflictPage(ctx, q)
		if err != nil {
			return out, err
		}
		out = append(out, page.Conflicts...)
		if page.Next == 0 {
			return out, nil
		}
		q.After = page.Next
	}
}

// ConflictPage returns one page of the recorded conflicts: q.Limit (100
// when 0) after q.After, of q.Node or ("") of all. Next says where the
// next page starts, 0 when this one is the last.
func (c *Client) ConflictPage(ctx context.Context, q fieldsync.ConflictQuery) (fieldsync.ConflictPage, error) {
	v := url.Values{}
	if q.Node != "" {
		v.Set("node", q.Node)
	}
	if q.After > 0 {
		v.Set("after", strconv.FormatInt(q.After, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	path := "/api/v1/admin/conflicts"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var page fieldsync.ConflictPage
	return page, c.do(ctx, http.MethodGet, path, nil, &page)
}

// Attach uploads a file as a row's attachment (its file column; name and
// mode set when given) and returns the row.
func (c *Client) Attach(ctx context.Context, table, id string, body io.Reader, name, mode string) (map[string]any, error) {
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	if mode != "" {
		q.Set("mode", mode)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, strings.TrimRight(c.BaseURL, "/")+recordPath(table, id)+"/file?"+q.Encode(), body)
	if err != nil {
		return nil, err
	}
	resp, err := c.raw(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var row map[string]any
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&row); err != nil {
		return nil, fmt.Errorf("unexpected answer from %s: %w", c.BaseURL, err)
	}
	return row, c.typed(ctx, table, row)
}

// Fetch writes a row's attachment file to w, from byte offset on (to
// resume a broken download). It returns the file's reference.
func (c *Client) Fetch(ctx context.Context, table, id string, w io.Writer, offset int64) (fieldsync.FileRef, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.BaseURL, "/")+recordPath(table, id)+"/file", nil)
	if err != nil {
		return fieldsync.FileRef{}, err
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := c.raw(req)
	if err != nil {
		return fieldsync.FileRef{}, err
	}
	defer resp.Body.Close()
	ref, err := fieldsync.ParseFileRef(resp.Header.Get("X-Fieldsync-File"))
	if err != nil {
		return ref, fmt.Errorf("server sent no file reference: %w", err)
	}
	if offset > 0 && resp.StatusCode != http.StatusPartialContent {
		return ref, fmt.Errorf("server did not resume at byte %d", offset)
	}
	_, err = io.Copy(w, resp.Body)
	return ref, err
}

// raw sends a request with the token and turns error answers into *Error.
func (c *Client) raw(req *http.Request) (*http.Response, error) {
	c.setAuth(req)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the fieldsync server at %s: %w", c.BaseURL, err)
	}
	if httperr.Failed(resp) {
		return nil, httperr.Read(resp)
	}
	return resp, nil
}

// ColumnTypes returns the type of every column of every table of the
// server's schema (GET /api/v1/schema).
func (c *Client) ColumnTypes(ctx context.Context) (map[string]map[string]fieldsync.ColumnType, error) {
	var out ColumnTypes
	return out.Tables, c.do(ctx, http.MethodGet, "/api/v1/schema", nil, &out)
}

// typed gives the numbers of rows of the table the Go type of their
// column: int64 for integer columns, float64 for real ones.
func (c *Client) typed(ctx context.Context, table string, rows ...map[string]any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	refetched := false
	for _, row := range rows {
		for k, v := range row {
			n, ok := v.(json.Number)
			if !ok {
				continue
			}
			t, known := c.types[table][k]
			if !known && !refetched {
				if err := c.fetchTypes(ctx); err != nil {
					return err
				}
				refetched = true
				t = c.types[table][k]
			}
			row[k] = numberOf(n, t)
		}
	}
	return nil
}

// fetchTypes (with c.mu held) learns the server's column types. A server
// without the endpoint leaves numbers as json.Number.
func (c *Client) fetchTypes(ctx context.Context) error {
	types, err := c.ColumnTypes(ctx)
	if errors.Is(err, fieldsync.ErrNotFound) {
		types, err = map[string]map[string]fieldsync.ColumnType{}, nil
	}
	if err != nil {
		return fmt.Errorf("read the server's column types: %w", err)
	}
	c.types = types
	return nil
}

// numberOf is n as a value of a column of type t: int64 for integer,
// float64 for real; n itself for other types, and when it does not parse.
func numberOf(n json.Number, t fieldsync.ColumnType) any {
	switch t {
	case fieldsync.TypeInteger:
		if i, err := n.Int64(); err == nil {
			return i
		}
	case fieldsync.TypeReal:
		if f, err := n.Float64(); err == nil {
			return f
		}
	}
	return n
}

// Sessions returns the latest synchronization sessions, newest first: of
// one node, or ("") of every node; limit 0 asks for DefaultSessions.
func (c *Client) Sessions(ctx context.Context, node string, limit int) ([]fieldsync.Session, error) {
	v := url.Values{}
	if node != "" {
		v.Set("node", node)
	}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	path := "/api/v1/admin/sessions"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out struct {
		Sessions []fieldsync.Session `json:"sessions"`
	}
	return out.Sessions, c.do(ctx, http.MethodGet, path, nil, &out)
}

// Refusals returns the uploads the Transaction Merger refused whole and
// one page of the changes it refused alone, of q.Node or ("") of every
// node; q.After and q.Limit page the changes as ConflictPage does.
func (c *Client) Refusals(ctx context.Context, q fieldsync.ConflictQuery) (Refusals, error) {
	v := url.Values{}
	if q.Node != "" {
		v.Set("node", q.Node)
	}
	if q.After > 0 {
		v.Set("after", strconv.FormatInt(q.After, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	path := "/api/v1/admin/refusals"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out Refusals
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// ReactivateNode lets a deactivated node synchronize again.
func (c *Client) ReactivateNode(ctx context.Context, name string) (fieldsync.Node, error) {
	var n fieldsync.Node
	return n, c.do(ctx, http.MethodPost, "/api/v1/admin/nodes/"+url.PathEscape(name)+"/reactivate", nil, &n)
}

// DeleteNode removes a node's registration and its docking folder; an
// active node only when force is set.
func (c *Client) DeleteNode(ctx context.Context, name string, force bool) (DeletedNode, error) {
	path := "/api/v1/admin/nodes/" + url.PathEscape(name)
	if force {
		path += "?force=true"
	}
	var out DeletedNode
	return out, c.do(ctx, http.MethodDelete, path, nil, &out)
}
