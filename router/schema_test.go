package router_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/schema"
)

// TestSchemaVersionsBackToBack: two schema versions applied before the
// router reaches the first (a rule that shows every activity to every
// node, then the attachment table dropped) are routed in order by a
// router that restarts behind both: it rebuilds its state under the first
// version from a database that is at the third (the dropped table still
// in it), sends each node the first version's gains, and both markers.
func TestSchemaVersionsBackToBack(t *testing.T) {
	testutil.ForBackends(t, testSchemaVersionsBackToBack)
}

func testSchemaVersionsBackToBack(t *testing.T, b testutil.Backend) {
	ctx := context.Background()
	e := newEnv(t, b, 1)
	e.base()
	e.must(
		ins("opportunity", map[string]any{"id": "o1", "name": "Deal", "account_id": "acme"}),
		ins("opportunity_team", map[string]any{"id": "ot1", "opportunity_id": "o1", "position_id": "p-ann"}),
		ins("activity", map[string]any{"id": "a1", "owner_id": "bob", "type": "call"}),
		ins("attachment", map[string]any{"id": "f1", "opportunity_id": "o1", "file_name": "a.txt"}),
	)
	e.mustPump()
	y := string(schema.DefaultYAML())
	owner := "      - owner: owner_id          # my own activities, wherever they hang\n"
	at := strings.Index(y, "  attachment:\n")
	if !strings.Contains(y, owner) || at < 0 {
		t.Fatal("the built-in schema changed: the test's versions need updating")
	}
	v2 := strings.Replace(y, owner, owner+"      - all\n", 1)
	v3 := strings.Replace(v2, y[at:], "", 1)
	for i, text := range []string{v2, v3} {
		s, err := schema.Parse("crm.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		if plan, err := e.st.ApplySchema(ctx, s, "admin"); err != nil || plan.To != int64(i+2) {
			t.Fatalf("apply version %d: %+v %v", i+2, plan, err)
		}
	}
	e.restart(nil, nil)
	e.mustPump()
	for node, emp := range map[string]string{"ann-laptop": "ann", "bob-laptop": "bob"} {
		e.checkNode(node, emp, "after versions 2 and 3")
		out := e.outbox(node)
		m2, m3 := slices.Index(out, "insert fs_schema/2"), slices.Index(out, "insert fs_schema/3")
		if m2 < 0 || m3 < m2 {
			t.Fatalf("%s's outbox lacks the markers in order: %v", node, out)
		}
	}
	if out := e.outbox("ann-laptop"); !slices.Contains(out, "insert activity/a1") {
		t.Fatalf("ann-laptop did not gain bob's activity under version 2: %v", out)
	}
}
