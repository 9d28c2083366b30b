package hostiletest_test

import (
	"context"
	"testing"

	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncproto"
)

// TestSessionsStartedAtOnce: a node starting many sessions at once keeps
// no more open than its share. A session ended by another start of the
// node while its own start was still recording it stays ended: it is not
// taken for one running in another process and opened again.
func TestSessionsStartedAtOnce(t *testing.T) { testutil.ForBackends(t, testSessionsStartedAtOnce) }

func testSessionsStartedAtOnce(t *testing.T, b testutil.Backend) {
	ctx := context.Background()
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t), Limits: server.Limits{NodeSessions: 2, NodeRequests: 8}})
	admin := &api.Client{BaseURL: url, Token: srv.Token()}
	if _, err := admin.Create(ctx, "employee", map[string]any{"id": "eve", "name": "Eve", "login": "eve"}); err != nil {
		t.Fatal(err)
	}
	added, err := admin.AddNode(ctx, attacker, "eve")
	if err != nil {
		t.Fatal(err)
	}
	eve := syncproto.NewClient(url, attacker, added.Secret, nil)
	var open []string // the node's sessions found open after the last round
	for round := range 20 {
		ids := make(chan string, 8)
		for range 8 {
			go func() {
				st, _ := eve.Start(ctx, 0) // refused past the node's requests: counted out
				ids <- st.Session
			}()
		}
		candidates := open
		for range 8 {
			if id := <-ids; id != "" {
				candidates = append(candidates, id)
			}
		}
		open = nil
		for _, id := range candidates {
			if _, err := eve.State(ctx, id); err == nil {
				open = append(open, id)
			}
		}
		if len(open) > 2 {
			t.Fatalf("round %d: %d sessions of the node are open, its limit is 2", round, len(open))
		}
	}
}
