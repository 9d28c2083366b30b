package console

import (
	"net/http"

	"github.com/fieldsync/fieldsync"
)

// historyLine is one Transaction Log entry of a record as its page's
// History list shows it.
type historyLine struct {
	Time, Op, Origin, User string
}

// history reads a record's latest log entries (fieldsync.MaxHistory),
// newest first: time UTC, operation, origin node or "server", user.
func (c *Console) history(r *http.Request, table, id string) ([]historyLine, error) {
	entries, err := c.st.History(r.Context(), table, id, fieldsync.MaxHistory)
	if err != nil {
		return nil, err
	}
	out := make([]historyLine, 0, len(entries))
	for _, e := range entries {
		l := historyLine{Time: e.Time.UTC().Format("2006-01-02 15:04:05"), Op: string(e.Op), Origin: e.Origin, User: e.User}
		if l.Origin == "" {
			l.Origin = "server"
		}
		if l.User == "" {
			l.User = "-"
		}
		out = append(out, l)
	}
	return out, nil
}
