package hostiletest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/testutil"
)

// attack is one hostile upload and the refusal it must meet.
type attack struct {
	name string
	txns func(w *world) []fieldsync.Txn
	want string // a part of the refusal's reason
}

// attacks are what a hostile node registered for ann tries: to see bob's
// team's rows by writes of its own, to change what every node gets, to
// name files it may not have, and to write what only the server decides.
var attacks = []attack{
	// Seeing another team's data by its own write.
	{"join another team's opportunity", func(*world) []fieldsync.Txn {
		return []fieldsync.Txn{ins("opportunity_team", "t-x", map[string]any{"opportunity_id": "secret", "position_id": "p-ann"})}
	}, `node ann-laptop may not point opportunity_team.opportunity_id at opportunity "secret"`},
	{"move its own team row to another opportunity", func(*world) []fieldsync.Txn {
		return []fieldsync.Txn{upd("opportunity_team", "t-ann", map[string]any{"opportunity_id": "secret"})}
	}, `node ann-laptop may not point opportunity_team.opportunity_id at opportunity "secret"`},
	{"point its own opportunity at another account", func(*world) []fieldsync.Txn {
		return []fieldsync.Txn{upd("opportunity", "deal", map[string]any{"account_id": "globex"})}
	}, `node ann-laptop may not point opportunity.account_id at account "globex"`},
	{"join another team's account", func(*world) []fieldsync.Txn {
		return []fieldsync.Txn{ins("account_team", "at-x", map[string]any{"account_id": "globex", "position_id": "p-ann"})}
	}, `node ann-laptop may not point account_team.account_id at account "globex"`},
	{"re-add itself after an administrator removed it", func(*world) []fieldsync.Txn {
		return []fieldsync.Txn{ins("opportunity_team", "t-back", map[string]any{"opportunity_id": "gone", "position_id": "p-ann"})}
	}, `node ann-laptop may not point opportunity_team.opportunity_id at opportunity "gone"`},
	{"a contact on another team's account", func(*world) []fieldsync.Txn {
		return []fieldsync.Txn{ins("contact", "c-x", map[string]any{"account_id": "globex", "first_name": "Eve"})}
	}, `node ann-laptop may not point contact.account_id at account "globex"`},
	{"a new opportunity no team of its own works", func(*world) []fieldsync.Txn {
		return []fieldsync.Txn{ins("opportunity", "o-x", map[string]any{"name": "Mine?", "account_id": "acme"})}
	}, `node ann-laptop would not see this opportunity row once its upload is merged`},
	{"hand its own team row to a colleague and keep writing", func(*world) []fieldsync.Txn {
		return []fieldsync.Txn{upd("opportunity_team", "t-ann", map[string]any{"position_id": "p-bob"})}
	}, `node ann-laptop would not see this opportunity_team row once its upload is merged`},
	{"take a position", func(*world) []fieldsync.Txn {
		return []fieldsync.Txn{upd("position", "p-bob", map[string]any{"employee_id": "ann"})}
	}, `table position may not be written by remote nodes`},

	// Writing another team's rows.
	{"update another team's contact", func(*world) []fieldsync.Txn {
		return []fieldsync.Txn{upd("contact", "c-globex", map[string]any{"email": "eve@example.com"})}
	}, `node ann-laptop may not write contact "c-globex"`},
	{"delete another team's contact", func(*world) []fieldsync.Txn {
		return []fieldsync.Txn{del("contact", "c-globex")}
	}, `node ann-laptop may not write contact "c-globex"`},
	{"insert over another team's row", func(*world) []fieldsync.Txn {
		return []fieldsync.Txn{ins("contact", "c-globex", map[string]any{"account_id": "acme"})}
	}, `node ann-laptop may not write contact "c-globex"`},
	{"delete another team's team row", func(*world) []fieldsync.Txn {
		return []fieldsync.Txn{del("opportunity_team", "t-bob")}
	}, `nodes may not delete opportunity_team rows`},

	// Changing what every node gets.
	{"replace the broadcast price sheet", func(w *world) []fieldsync.Txn {
		return []fieldsync.Txn{upd("attachment", "price", map[string]any{"file": w.dealNotes.String()})}
	}, `attachment "price" is in broadcast mode: only the server changes it`},
	{"delete the broadcast price sheet", func(*world) []fieldsync.Txn {
		return []fieldsync.Txn{del("attachment", "price")}
	}, `attachment "price" is in broadcast mode: only the server changes it`},
	{"insert a broadcast attachment", func(w *world) []fieldsync.Txn {
		return []fieldsync.Txn{ins("attachment", "att-x", map[string]any{"opportunity_id": "deal", "file": w.dealNotes.String(), "mode": "broadcast"})}
	}, `nodes may not put attachment rows in broadcast mode`},
	{"turn its own attachment into a broadcast", func(*world) []fieldsync.Txn {
		return []fieldsync.Txn{upd("attachment", "att-deal", map[string]any{"mode": "broadcast"})}
	}, `nodes may not put attachment rows in broadcast mode`},
	{"an activity under another team's opportunity", func(*world) []fieldsync.Txn {
		return []fieldsync.Txn{ins("activity", "act-x", map[string]any{"opportunity_id": "secret", "owner_id": "ann", "type": "call"})}
	}, `node ann-laptop may not point activity.opportunity_id at opportunity "secret"`},
	{"change reference data", func(*world) []fieldsync.Txn {
		return []fieldsync.Txn{upd("campaign", "spring", map[string]any{"name": "Ann's"})}
	}, `table campaign may not be written by remote nodes`},

	// Naming a file it may not have.
	{"attach another team's file", func(w *world) []fieldsync.Txn {
		return []fieldsync.Txn{ins("attachment", "att-x", map[string]any{"opportunity_id": "deal", "file": w.proposal.String(), "mode": "published"})}
	}, `node ann-laptop may not name file sha256:`},
	{"point its own attachment at another team's file", func(w *world) []fieldsync.Txn {
		return []fieldsync.Txn{upd("attachment", "att-deal", map[string]any{"file": w.proposal.String()})}
	}, `it did not upload it, and sees no row carrying it`},
	{"a contact-free file reference of its own making", func(*world) []fieldsync.Txn {
		ref := fieldsync.FileRef{SHA256: strings.Repeat("ab", 32), Size: 12}
		return []fieldsync.Txn{ins("attachment", "att-x", map[string]any{"opportunity_id": "deal", "file": ref.String()})}
	}, `node ann-laptop may not name file sha256:abab`},

	// What only the server decides (the CRM schema's narrowing).
	{"credit its deal to a campaign", func(*world) []fieldsync.Txn {
		return []fieldsync.Txn{upd("opportunity", "deal", map[string]any{"campaign_id": "spring"})}
	}, `opportunity.campaign_id is set by the server only`},
	{"delete its own deal", func(*world) []fieldsync.Txn {
		return []fieldsync.Txn{del("opportunity", "deal")}
	}, `nodes may not delete opportunity rows`},
	{"delete an account it sees", func(*world) []fieldsync.Txn {
		return []fieldsync.Txn{del("account", "acme")}
	}, `nodes may not delete account rows`},
}

// mixed are uploads with fair changes beside an attack: the attack is
// refused alone (with what depends on it), the fair changes merged.
var mixed = []struct {
	name   string
	txns   []fieldsync.Txn
	want   []string // the refusals, in order
	merged [][2]string
}{
	{"a fair change, then an attack", []fieldsync.Txn{
		upd("opportunity", "deal", map[string]any{"stage": "won"}),
		ins("contact", "c-ok", map[string]any{"account_id": "acme", "first_name": "Al"}),
		ins("opportunity_team", "t-x", map[string]any{"opportunity_id": "secret", "position_id": "p-ann"}),
	}, []string{`change 3 of 3 (insert opportunity_team t-x): node ann-laptop may not point`}, [][2]string{{"contact", "c-ok"}}},
	{"an attack through a row of its own upload", []fieldsync.Txn{
		ins("opportunity_team", "t-y", map[string]any{"opportunity_id": "deal", "position_id": "p-bob"}),
		upd("opportunity_team", "t-y", map[string]any{"opportunity_id": "secret"}),
	}, []string{`change 2 of 2 (update opportunity_team t-y): node ann-laptop may not point`}, [][2]string{{"opportunity_team", "t-y"}}},
	{"a child of a refused insert", []fieldsync.Txn{
		ins("opportunity", "o-x", map[string]any{"name": "Theirs", "account_id": "globex"}),
		ins("opportunity_team", "t-z", map[string]any{"opportunity_id": "o-x", "position_id": "p-ann"}),
		ins("activity", "act-z", map[string]any{"opportunity_id": "o-x", "owner_id": "ann"}),
		upd("opportunity", "o-x", map[string]any{"stage": "won"}),
		ins("contact", "c-ok2", map[string]any{"account_id": "acme", "first_name": "Bo"}),
	}, []string{
		`change 1 of 5 (insert opportunity o-x): node ann-laptop may not point opportunity.account_id at account "globex"`,
		`change 2 of 5 (insert opportunity_team t-z): it depends on change 1, which was refused`,
		`change 3 of 5 (insert activity act-z): it depends on change 1, which was refused`,
		`change 4 of 5 (update opportunity o-x): it depends on change 1, which was refused`,
	}, [][2]string{{"contact", "c-ok2"}}},
}

// TestMixedUpload: an upload's fair changes are merged, its attack and
// the changes that depend on it refused, each with its own reason.
func TestMixedUpload(t *testing.T) { testutil.ForBackends(t, testMixedUpload) }

func testMixedUpload(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	w.story()
	_, secret := w.node("ann-laptop", "ann")
	s := w.sender("ann-laptop", secret)
	for _, u := range mixed {
		got := strings.Split(s.send(u.txns...), "\n")
		if len(got) != len(u.want) {
			t.Errorf("%s: refused %q, want %q", u.name, got, u.want)
			continue
		}
		for i := range got {
			if !strings.HasPrefix(got[i], u.want[i]) {
				t.Errorf("%s: refusal %d is %q, want it to begin %q", u.name, i+1, got[i], u.want[i])
			}
		}
		for _, r := range u.merged {
			if _, err := w.api.Get(context.Background(), r[0], r[1]); err != nil {
				t.Errorf("%s: %s %s not merged: %v", u.name, r[0], r[1], err)
			}
		}
	}
	if row, _ := w.api.Get(context.Background(), "opportunity_team", "t-y"); row["opportunity_id"] != "deal" {
		t.Errorf("t-y moved: %v", row)
	}
	if _, err := w.api.Get(context.Background(), "opportunity_team", "t-x"); err == nil {
		t.Error("t-x merged")
	}
}

// TestHostileNode: every attack is refused with its reason, nothing of it
// reaches the server's rows, and the node gets none of the other team's
// rows or files afterwards.
func TestHostileNode(t *testing.T) { testutil.ForBackends(t, testHostileNode) }

func testHostileNode(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	w.story()
	ann, secret := w.node("ann-laptop", "ann")
	w.sync(ann)
	hasAll(t, ann, [][2]string{{"opportunity", "gone"}, {"attachment", "price"}})
	if _, err := w.api.Update(context.Background(), "opportunity", "gone", map[string]any{"stage": "lost"}); err != nil {
		t.Fatal(err)
	}
	if err := w.api.Delete(context.Background(), "opportunity_team", "t-ann-gone"); err != nil {
		t.Fatal(err)
	}
	w.sync(ann)
	hasNone(t, ann, secretRows)
	s := w.sender("ann-laptop", secret)
	for _, a := range attacks {
		before := w.dump()
		reason := s.send(a.txns(w)...)
		switch {
		case reason == "":
			t.Errorf("%s: merged", a.name)
		case !strings.Contains(reason, a.want):
			t.Errorf("%s: refused with %q, want it to contain %q", a.name, reason, a.want)
		case strings.Contains(reason, "\n") || strings.Contains(reason, w.dir):
			t.Errorf("%s: the reason is not one line about the node's data: %q", a.name, reason)
		}
		w.sameRows(a.name, before)
	}
	w.sync(ann)
	hasNone(t, ann, secretRows)
	if s.canFetch(w.proposal) {
		t.Error("ann's node may download bob's proposal")
	}
	if !s.canFetch(w.priceSheet) || !s.canFetch(w.dealNotes) {
		t.Error("ann's node may not download the files it sees")
	}
}

// TestRefusalsTellNoExistence: a row the node does not see and a row that
// does not exist are refused in the same words.
func TestRefusalsTellNoExistence(t *testing.T) { testutil.ForBackends(t, testRefusalsTellNoExistence) }

func testRefusalsTellNoExistence(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	w.story()
	_, secret := w.node("ann-laptop", "ann")
	s := w.sender("ann-laptop", secret)
	for _, pair := range []struct {
		invisible, missing func(id string) fieldsync.Txn
	}{
		{func(id string) fieldsync.Txn {
			return ins("opportunity_team", "t-x", map[string]any{"opportunity_id": id, "position_id": "p-ann"})
		}, nil},
		{func(id string) fieldsync.Txn {
			return ins("activity", "act-x", map[string]any{"opportunity_id": id, "owner_id": "ann"})
		}, nil},
		{func(id string) fieldsync.Txn { return upd("opportunity", "deal", map[string]any{"account_id": id}) }, nil},
	} {
		seen := s.send(pair.invisible("secret"))
		none := s.send(pair.invisible("no-such-row"))
		if seen == "" || strings.ReplaceAll(seen, "secret", "X") != strings.ReplaceAll(none, "no-such-row", "X") {
			t.Errorf("refusals differ for an invisible and a missing row:\n%q\n%q", seen, none)
		}
	}
	// A file: another team's, and one that is nowhere.
	nowhere := fieldsync.FileRef{SHA256: strings.Repeat("cd", 32), Size: w.proposal.Size}
	seen := s.send(upd("attachment", "att-deal", map[string]any{"file": w.proposal.String()}))
	none := s.send(upd("attachment", "att-deal", map[string]any{"file": nowhere.String()}))
	if seen == "" || strings.ReplaceAll(seen, w.proposal.SHA256, "X") != strings.ReplaceAll(none, nowhere.SHA256, "X") {
		t.Errorf("refusals differ for another team's file and no file:\n%q\n%q", seen, none)
	}
}
