package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/fieldsync/fieldsync"
)

// Activity is what the administrators' pages of conflicts, refusals and
// synchronization sessions need of the server database.
type Activity interface {
	// ConflictPage returns one page of the recorded conflicts, oldest
	// first; RefusedChangePage one page of the changes refused alone.
	ConflictPage(ctx context.Context, q fieldsync.ConflictQuery) (fieldsync.ConflictPage, error)
	RefusedChangePage(ctx context.Context, q fieldsync.ConflictQuery) (fieldsync.ConflictPage, error)
	// RefusedUploads returns the uploads refused whole, of a node or ("")
	// of every node, oldest first.
	RefusedUploads(ctx context.Context, node string) ([]fieldsync.Refusal, error)
	// Sessions returns a node's latest sessions, newest first;
	// RecentSessions those of every node.
	Sessions(ctx context.Context, node string, limit int) ([]fieldsync.Session, error)
	RecentSessions(ctx context.Context, limit int) ([]fieldsync.Session, error)
}

// Pages of the activity lists: rows a page shows, conflicts read at most
// to fill one filtered page, and the pages of sessions one may go back.
const (
	activityPage  = 50
	conflictScan  = 5000
	sessionPages  = 20
	maxBackTrail  = 20
	maxQueryValue = 200
)

// conflictKinds are the kinds the conflicts page filters by.
var conflictKinds = []fieldsync.ConflictKind{fieldsync.ConflictUpdate, fieldsync.ConflictDeleteUpdated,
	fieldsync.ConflictUpdateDeleted, fieldsync.ConflictUnique, fieldsync.ConflictTeamMerged,
	fieldsync.ConflictRefused, fieldsync.ConflictRefusedRest}

// activityFilter is the filter form of the activity pages, as given.
type activityFilter struct {
	Node, Table, Kind string
	After             int64
	Back              []int64
	Page              int
}

// conflictsData is what the conflicts and refusals pages show.
type conflictsData struct {
	Filter    activityFilter
	Kinds     []fieldsync.ConflictKind
	Tables    []string
	Refusals  bool
	Action    string
	Error     string
	Conflicts []conflictRow
	Uploads   []fieldsync.Refusal
	Next      string
	Prev      string
	First     string
	Scanned   bool
}

// conflictRow is one conflict as the page shows it.
type conflictRow struct {
	fieldsync.Conflict
	Href string
}

// queryValue is a bounded value of the request's query.
func queryValue(q url.Values, name string) (string, error) {
	v := strings.TrimSpace(q.Get(name))
	if len(v) > maxQueryValue {
		return "", fieldsync.Errorf(fieldsync.ErrInvalid, "%s is longer than %d bytes", name, maxQueryValue)
	}
	return v, nil
}

// parseFilter reads and checks the filter of an activity page: the node
// must be registered, the table in the schema, the kind a conflict kind.
func (c *Console) parseFilter(r *http.Request) (activityFilter, error) {
	q := r.URL.Query()
	var f activityFilter
	var err error
	for _, p := range []struct {
		name string
		dst  *string
	}{{"node", &f.Node}, {"table", &f.Table}, {"kind", &f.Kind}} {
		if *p.dst, err = queryValue(q, p.name); err != nil {
			return f, err
		}
	}
	if v := q.Get("after"); v != "" {
		if f.After, err = strconv.ParseInt(v, 10, 64); err != nil || f.After < 0 {
			return f, fieldsync.Errorf(fieldsync.ErrInvalid, "after %q is not a conflict id", v)
		}
	}
	if v := q.Get("back"); v != "" {
		parts := strings.Split(v, ",")
		if len(parts) > maxBackTrail {
			parts = parts[len(parts)-maxBackTrail:]
		}
		for _, p := range parts {
			n, err := strconv.ParseInt(p, 10, 64)
			if err != nil || n < 0 {
				return f, fieldsync.Errorf(fieldsync.ErrInvalid, "back %q is not a list of conflict ids", v)
			}
			f.Back = append(f.Back, n)
		}
	}
	f.Page = 1
	if v := q.Get("page"); v != "" {
		if f.Page, err = strconv.Atoi(v); err != nil || f.Page < 1 || f.Page > sessionPages {
			return f, fieldsync.Errorf(fieldsync.ErrInvalid, "page %q is not a number from 1 to %d", v, sessionPages)
		}
	}
	if f.Node != "" {
		if _, _, err := c.st.Node(r.Context(), f.Node); err != nil {
			return f, err
		}
	}
	if f.Table != "" {
		if _, err := c.st.Schema().LookupTable(f.Table); err != nil {
			return f, err
		}
	}
	if f.Kind != "" && !slices.Contains(conflictKinds, fieldsync.ConflictKind(f.Kind)) {
		return f, fieldsync.Errorf(fieldsync.ErrInvalid, "kind %q is not a conflict kind", f.Kind)
	}
	return f, nil
}

// link is the URL of path with the filter and the paging values given.
func (f activityFilter) link(path string, after int64, back []int64, page int) string {
	v := url.Values{}
	for k, s := range map[string]string{"node": f.Node, "table": f.Table, "kind": f.Kind} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if after > 0 {
		v.Set("after", strconv.FormatInt(after, 10))
	}
	if len(back) > 0 {
		s := make([]string, len(back))
		for i, n := range back {
			s[i] = strconv.FormatInt(n, 10)
		}
		v.Set("back", strings.Join(s, ","))
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

func (c *Console) conflicts(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.conflictList(w, r, s, false)
}

func (c *Console) refusals(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.conflictList(w, r, s, true)
}

// conflictList draws the conflicts page, or the refusals page: the uploads
// refused whole and the changes refused alone.
func (c *Console) conflictList(w http.ResponseWriter, r *http.Request, s *session, refusals bool) error {
	d := conflictsData{Refusals: refusals, Action: Base + "admin/conflicts", Kinds: conflictKinds}
	title, read := "Conflicts", c.st.ConflictPage
	if refusals {
		d.Action, title, read = Base+"admin/refusals", "Refusals", c.st.RefusedChangePage
	}
	for _, t := range c.st.Schema().Tables {
		d.Tables = append(d.Tables, t.Name)
	}
	f, err := c.parseFilter(r)
	d.Filter = f
	if err != nil {
		d.Error = err.Error()
		c.render(w, r, s, statusOf(err), "conflicts", title, d)
		return nil
	}
	if refusals && f.After == 0 {
		if d.Uploads, err = c.st.RefusedUploads(r.Context(), f.Node); err != nil {
			return err
		}
	}
	rows, next, scanned, err := c.scanConflicts(r.Context(), read, f)
	if err != nil {
		return err
	}
	for _, cf := range rows {
		row := conflictRow{Conflict: cf}
		if _, err := c.st.Schema().LookupTable(cf.Table); err == nil && cf.RowID != "" {
			row.Href = Base + "t/" + url.PathEscape(cf.Table) + "/r/" + url.PathEscape(cf.RowID)
		}
		d.Conflicts = append(d.Conflicts, row)
	}
	d.Scanned = scanned
	if next > 0 {
		d.Next = f.link(d.Action, next, append(slices.Clone(f.Back), f.After), 0)
	}
	if f.After > 0 {
		d.First = f.link(d.Action, 0, nil, 0)
		if n := len(f.Back); n > 0 {
			d.Prev = f.link(d.Action, f.Back[n-1], f.Back[:n-1], 0)
		}
	}
	c.render(w, r, s, http.StatusOK, "conflicts", title, d)
	return nil
}

// scanConflicts reads conflicts after f.After until a page of those of
// f's table and kind is full, or conflictScan were read (scanned). next
// is where the following page starts (0: none follows).
func (c *Console) scanConflicts(ctx context.Context, read func(context.Context, fieldsync.ConflictQuery) (fieldsync.ConflictPage, error),
	f activityFilter) (rows []fieldsync.Conflict, next int64, scanned bool, err error) {
	q := fieldsync.ConflictQuery{Node: f.Node, After: f.After, Limit: fieldsync.MaxConflictPage}
	if f.Table == "" && f.Kind == "" {
		q.Limit = activityPage
	}
	for seen := 0; ; {
		page, err := read(ctx, q)
		if err != nil {
			return nil, 0, false, err
		}
		for _, cf := range page.Conflicts {
			seen++
			if (f.Table == "" || cf.Table == f.Table) && (f.Kind == "" || string(cf.Kind) == f.Kind) {
				rows = append(rows, cf)
			}
			if len(rows) == activityPage || seen == conflictScan {
				if cf.ID == lastID(page) && page.Next == 0 {
					return rows, 0, false, nil
				}
				return rows, cf.ID, len(rows) < activityPage, nil
			}
		}
		if page.Next == 0 {
			return rows, 0, false, nil
		}
		q.After = page.Next
	}
}

// lastID is the id of a page's last conflict (0 for an empty page).
func lastID(p fieldsync.ConflictPage) int64 {
	if len(p.Conflicts) == 0 {
		return 0
	}
	return p.Conflicts[len(p.Conflicts)-1].ID
}

// statusOf is the HTTP status of an error's kind.
func statusOf(err error) int {
	switch {
	case errors.Is(err, fieldsync.ErrNotFound), errors.Is(err, fieldsync.ErrNodeUnknown):
		return http.StatusNotFound
	default:
		return http.StatusBadRequest
	}
}

// sessionsData is what the sessions page shows.
type sessionsData struct {
	Filter   activityFilter
	Error    string
	Sessions []fieldsync.Session
	Next     string
	Prev     string
}

// syncSessions lists the latest synchronization sessions, newest first, of
// one node or of every node, activityPage a page.
func (c *Console) syncSessions(w http.ResponseWriter, r *http.Request, s *session) error {
	action := Base + "admin/sessions"
	f, err := c.parseFilter(r)
	d := sessionsData{Filter: f}
	if err != nil {
		d.Error = err.Error()
		c.render(w, r, s, statusOf(err), "sessions", "Sessions", d)
		return nil
	}
	limit := f.Page*activityPage + 1
	var ss []fieldsync.Session
	if f.Node != "" {
		ss, err = c.st.Sessions(r.Context(), f.Node, limit)
	} else {
		ss, err = c.st.RecentSessions(r.Context(), limit)
	}
	if err != nil {
		return err
	}
	from := (f.Page - 1) * activityPage
	if from < len(ss) {
		d.Sessions = ss[from:min(len(ss), from+activityPage)]
	}
	if len(ss) == limit && f.Page < sessionPages {
		d.Next = f.link(action, 0, nil, f.Page+1)
	}
	if f.Page > 1 {
		d.Prev = f.link(action, 0, nil, f.Page-1)
	}
	c.render(w, r, s, http.StatusOK, "sessions", "Sessions", d)
	return nil
}
