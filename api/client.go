package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/status"
)

// Client calls the API of a fieldsync server. The zero HTTP field uses
// http.DefaultClient. A Client is safe for concurrent use.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:7070
	Token   string // the bearer token
	HTTP    *http.Client
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

// Error is an error answer of the API: its HTTP status, the code of its
// kind and its one-line message. It unwraps to the fieldsync sentinel of
// that kind, so errors.Is(err, fieldsync.ErrNotFound) works on the client
// side as on the server.
type Error struct {
	Status int
	Code   string // "not_found", "invalid", ...; see docs/api.md
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the fieldsync sentinel of the error's code, and the more
// general kind it refines: an unknown node's error is both
// fieldsync.ErrNodeUnknown and fieldsync.ErrNotFound, a deactivated node's
// both fieldsync.ErrNodeDeactivated and fieldsync.ErrForbidden. Answers
// without a known code unwrap to the kind of their status.
func (e *Error) Unwrap() []error {
	for _, k := range kinds {
		if k.code == e.Code {
			if k.refines != nil {
				return []error{k.err, k.refines}
			}
			return []error{k.err}
		}
	}
	switch e.Status {
	case http.StatusBadRequest:
		return []error{fieldsync.ErrInvalid}
	case http.StatusNotFound:
		return []error{fieldsync.ErrNotFound}
	case http.StatusConflict:
		return []error{fieldsync.ErrExists}
	case http.StatusUnauthorized:
		return []error{fieldsync.ErrUnauthorized}
	case http.StatusForbidden:
		return []error{fieldsync.ErrForbidden}
	case http.StatusRequestEntityTooLarge:
		return []error{fieldsync.ErrTooLarge}
	}
	return nil
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
	req.Header.Set("Authorization", "Bearer "+c.Token)
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
	if resp.StatusCode >= 300 {
		var e errorBody
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s %s: server answered %s", method, path, resp.Status)
		}
		return &Error{Status: resp.StatusCode, Code: e.Code, Msg: oneLine(e.Error)}
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
	return row, c.do(ctx, http.MethodPost, recordPath(table), vals, &row)
}

// Get returns one row.
func (c *Client) Get(ctx context.Context, table, id string) (map[string]any, error) {
	var row map[string]any
	return row, c.do(ctx, http.MethodGet, recordPath(table, id), nil, &row)
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
	return page, c.do(ctx, http.MethodGet, path, nil, &page)
}

// Update changes columns of a row and returns it as stored.
func (c *Client) Update(ctx context.Context, table, id string, vals map[string]any) (map[string]any, error) {
	var row map[string]any
	return row, c.do(ctx, http.MethodPatch, recordPath(table, id), vals, &row)
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
func (c *Client) Status(ctx context.Context) (status.Status, error) {
	var s status.Status
	return s, c.do(ctx, http.MethodGet, "/api/v1/admin/status", nil, &s)
}

// oneLine keeps the first line of a message: error messages are one line.
func oneLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(first)
}

// Conflicts returns the recorded conflicts, of one node or ("") of all.
func (c *Client) Conflicts(ctx context.Context, node string) ([]fieldsync.Conflict, error) {
	var out struct {
		Conflicts []fieldsync.Conflict `json:"conflicts"`
	}
	path := "/api/v1/admin/conflicts"
	if node != "" {
		path += "?node=" + url.QueryEscape(node)
	}
	return out.Conflicts, c.do(ctx, http.MethodGet, path, nil, &out)
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
	return row, dec.Decode(&row)
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
	req.Header.Set("Authorization", "Bearer "+c.Token)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the fieldsync server at %s: %w", c.BaseURL, err)
	}
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusPartialContent {
		defer resp.Body.Close()
		var e struct {
			Error string `json:"error"`
			Code  string `json:"code"`
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = "server answered " + resp.Status
		}
		return nil, &Error{Status: resp.StatusCode, Msg: e.Error, Code: e.Code}
	}
	return resp, nil
}
