package hostiletest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/testutil"
)

// TestFieldWork: what a field user does is merged under the same checks:
// adding a colleague to a team, attaching a file offline (even one whose
// content the server has from another team), and creating an account
// with its team row and contacts in one upload.
func TestFieldWork(t *testing.T) { testutil.ForBackends(t, testFieldWork) }

func testFieldWork(t *testing.T, b testutil.Backend) {
	ctx := context.Background()
	w := newWorld(t, b)
	w.story()
	ann, _ := w.node("ann-laptop", "ann")
	bob, _ := w.node("bob-laptop", "bob")
	w.sync(ann)
	w.sync(bob)
	// Ann puts bob on her deal's team; bob gets the deal and what hangs off it.
	if _, err := ann.Apply(ctx, fieldsync.Insert("opportunity_team", map[string]any{"id": "t-bob-deal", "opportunity_id": "deal", "position_id": "p-bob"})); err != nil {
		t.Fatal(err)
	}
	// And attaches her visit notes offline, and her own copy of a proposal
	// whose content the server has from bob's team.
	dir := t.TempDir()
	for id, content := range map[string]string{"att-visit": "met the buyer", "att-copy": "bob's proposal to Globex"} {
		path := filepath.Join(dir, id+".txt")
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ann.Apply(ctx, fieldsync.Insert("attachment", map[string]any{"id": id, "opportunity_id": "deal"})); err != nil {
			t.Fatal(err)
		}
		if _, err := ann.Attach(ctx, "attachment", id, path, fieldsync.ModePublished); err != nil {
			t.Fatal(err)
		}
	}
	w.sync(ann)
	w.settle()
	if refused, err := w.srv.Store().Refused(ctx, "ann-laptop"); err != nil || len(refused) > 0 {
		t.Fatalf("ann's field work refused: %+v %v", refused, err)
	}
	for _, id := range []string{"att-visit", "att-copy"} {
		row, err := w.api.Get(ctx, "attachment", id)
		if err != nil || row["file"] == nil {
			t.Fatalf("attachment %s on the server: %v %v", id, row, err)
		}
	}
	if row, _ := w.api.Get(ctx, "attachment", "att-copy"); row["file"] != w.proposal.String() {
		t.Fatalf("ann's copy names %v, want %s", row["file"], w.proposal)
	}
	w.sync(bob)
	hasAll(t, bob, [][2]string{{"opportunity", "deal"}, {"account", "acme"}, {"contact", "c-acme"}, {"attachment", "att-visit"}, {"attachment", "att-deal"}})

	// A new account, its team row and its contacts, in one upload.
	_, secret := w.node("ann-tablet", "ann")
	s := w.sender("ann-tablet", secret)
	created := []fieldsync.Txn{
		ins("account", "acc-new", map[string]any{"name": "Initech", "industry": "software"}),
		ins("account_team", "at-new", map[string]any{"account_id": "acc-new", "position_id": "p-ann"}),
		ins("contact", "c-new1", map[string]any{"account_id": "acc-new", "first_name": "Peter"}),
		ins("contact", "c-new2", map[string]any{"account_id": "acc-new", "first_name": "Milton"}),
		upd("contact", "c-new2", map[string]any{"email": "milton@initech.example"}),
	}
	if reason := s.send(created...); reason != "" {
		t.Fatalf("a new account with its team and contacts refused: %s", reason)
	}
	w.sync(ann)
	hasAll(t, ann, [][2]string{{"account", "acc-new"}, {"account_team", "at-new"}, {"contact", "c-new1"}, {"contact", "c-new2"}})
	hasNone(t, bob, [][2]string{{"account", "acc-new"}})

	// The team row names the account, so the account comes first.
	reason := s.send(
		ins("account_team", "at-new2", map[string]any{"account_id": "acc-new2", "position_id": "p-ann"}),
		ins("account", "acc-new2", map[string]any{"name": "Initrode"}),
	)
	if !strings.Contains(reason, `node ann-tablet may not point account_team.account_id at account "acc-new2"`) {
		t.Fatalf("a team row before its account: %q", reason)
	}
	// A row of the upload's own may be deleted again even where nodes may
	// not delete: nothing of it reaches the server.
	before := w.dump()
	if reason := s.send(
		ins("opportunity_team", "t-oops", map[string]any{"opportunity_id": "deal", "position_id": "p-bob"}),
		del("opportunity_team", "t-oops"),
	); reason != "" {
		t.Fatalf("a team row added and removed in one upload: %s", reason)
	}
	w.sameRows("a team row added and removed", before)
}

// TestFieldWorkThroughTheClient: the field user's own client makes a new
// account with its team row and contacts in one local change, which merges;
// what the server would refuse for its table is refused locally at once.
func TestFieldWorkThroughTheClient(t *testing.T) {
	testutil.ForBackends(t, testFieldWorkThroughTheClient)
}

func testFieldWorkThroughTheClient(t *testing.T, b testutil.Backend) {
	ctx := context.Background()
	w := newWorld(t, b)
	w.story()
	ann, _ := w.node("ann-laptop", "ann")
	w.sync(ann)
	if _, err := ann.Apply(ctx, fieldsync.Insert("account", map[string]any{"id": "acc-solo", "name": "Alone Inc"})); !errors.Is(err, fieldsync.ErrForbidden) {
		t.Fatalf("an account no team of the node's holds: %v", err)
	}
	_, err := ann.Apply(ctx,
		fieldsync.Insert("account", map[string]any{"id": "acc-client", "name": "Initech"}),
		fieldsync.Insert("account_team", map[string]any{"id": "at-client", "account_id": "acc-client", "position_id": "p-ann"}),
		fieldsync.Insert("contact", map[string]any{"id": "c-client", "account_id": "acc-client", "first_name": "Peter"}))
	if err != nil {
		t.Fatalf("a new account with its team row and contact: %v", err)
	}
	for _, ch := range []fieldsync.Change{
		fieldsync.Delete("account", "acc-client"),                                        // remote_delete: false
		fieldsync.Update("opportunity", "deal", map[string]any{"campaign_id": "spring"}), // a server column
		fieldsync.Update("attachment", "att-deal", map[string]any{"mode": "broadcast"}),  // broadcast is the server's
	} {
		if _, err := ann.Apply(ctx, ch); !errors.Is(err, fieldsync.ErrForbidden) {
			t.Errorf("%s %s %s: %v, want refused locally", ch.Op, ch.Table, ch.ID, err)
		}
	}
	w.sync(ann)
	w.settle()
	if refused, err := w.srv.Store().Refused(ctx, "ann-laptop"); err != nil || len(refused) > 0 {
		t.Fatalf("refused: %+v %v", refused, err)
	}
	for _, r := range [][2]string{{"account", "acc-client"}, {"account_team", "at-client"}, {"contact", "c-client"}} {
		if _, err := w.api.Get(ctx, r[0], r[1]); err != nil {
			t.Errorf("%s %s on the server: %v", r[0], r[1], err)
		}
	}
}
