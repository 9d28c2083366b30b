package visibility_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/visibility"
)

// movesVariants are rule changes of the built-in schema: each replaces
// the first text by the second.
var movesVariants = [][2]string{
	{"      - parent: account_id   # the contacts of the accounts I see\n", "      - parent: account_id   # the contacts of the accounts I see\n      - all\n"},
	{"      - owner: owner_id          # my own activities, wherever they hang\n", "      - all\n"},
	{"      - referenced_by: opportunity_team.opportunity_id   # opportunities whose team holds one of my positions\n",
		"      - referenced_by: opportunity_team.opportunity_id   # opportunities whose team holds one of my positions\n      - all\n"},
	{"      - position: position_id\n      - parent: opportunity_id\n", "      - parent: opportunity_id\n"},
	{"      - referenced_by: opportunity.account_id    # the accounts of the opportunities I see\n",
		"      - referenced_by: opportunity.account_id    # the accounts of the opportunities I see\n      - referenced_by: activity.account_id\n"},
}

// TestMovesMatchVisible: for random rows and every rule change of
// movesVariants (both ways), what Moves says each employee gains and
// loses is the difference of Visible's views under the two schemas.
func TestMovesMatchVisible(t *testing.T) {
	for _, seed := range testutil.Seeds(t, *seedFlag, *seedsFlag) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Logf("replay with: go test ./visibility -run TestMovesMatchVisible -seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 17))
			rows := randomRows(rng, 300)
			base := schema.Default()
			for i, v := range movesVariants {
				y := string(schema.DefaultYAML())
				if !strings.Contains(y, v[0]) {
					t.Fatalf("variant %d: the built-in schema lacks %q", i, v[0])
				}
				other, err := schema.Parse("variant.yaml", []byte(strings.Replace(y, v[0], v[1], 1)))
				if err != nil {
					t.Fatalf("variant %d: %v", i, err)
				}
				compareMoves(t, i, graphOf(t, base, rows), graphOf(t, other, rows))
				compareMoves(t, i, graphOf(t, other, rows), graphOf(t, base, rows))
			}
		})
	}
}

type tableRow struct {
	table string
	row   fieldsync.Row
}

// randomRows makes n rows of the built-in schema's tables, pointing at
// each other at random (sometimes at nothing).
func randomRows(rng *rand.Rand, n int) []tableRow {
	ids := map[string][]string{}
	pick := func(table string) any {
		if l := ids[table]; len(l) > 0 && rng.IntN(6) > 0 {
			return l[rng.IntN(len(l))]
		}
		return nil
	}
	emps := []string{"e0", "e1", "e2", "e3"}
	var out []tableRow
	for _, e := range emps {
		out = append(out, tableRow{"employee", fieldsync.Row{"id": e}})
		ids["employee"] = append(ids["employee"], e)
	}
	tables := []string{"position", "account", "account_team", "contact", "opportunity", "opportunity_team", "activity", "attachment"}
	for i := 0; i < n; i++ {
		table := tables[rng.IntN(len(tables))]
		id := fmt.Sprintf("%s%d", table[:2], i)
		r := fieldsync.Row{"id": id}
		switch table {
		case "position":
			r["employee_id"] = pick("employee")
		case "account_team":
			r["account_id"], r["position_id"] = pick("account"), pick("position")
		case "contact":
			r["account_id"] = pick("account")
		case "opportunity":
			r["account_id"] = pick("account")
		case "opportunity_team":
			r["opportunity_id"], r["position_id"] = pick("opportunity"), pick("position")
		case "activity":
			r["opportunity_id"], r["account_id"], r["owner_id"] = pick("opportunity"), pick("account"), pick("employee")
		case "attachment":
			r["opportunity_id"], r["mode"] = pick("opportunity"), []string{"published", "broadcast"}[rng.IntN(2)]
		}
		out = append(out, tableRow{table, r})
		ids[table] = append(ids[table], id)
	}
	return out
}

func graphOf(t *testing.T, s *fieldsync.Schema, rows []tableRow) *visibility.Graph {
	t.Helper()
	g := visibility.NewGraph(s)
	for _, r := range rows {
		if err := g.Put(r.table, r.row); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// compareMoves checks Moves against the views' difference for every
// employee.
func compareMoves(t *testing.T, variant int, before, after *visibility.Graph) {
	t.Helper()
	m := visibility.NewMoves(before, after)
	for _, emp := range []string{"e0", "e1", "e2", "e3", "nobody"} {
		vb, va := before.Visible(emp), after.Visible(emp)
		gained, lost := m.Of(emp)
		if want := minus(va, vb); !slices.Equal(names(gained), want) {
			t.Fatalf("variant %d, %s gains %v, want %v", variant, emp, names(gained), want)
		}
		if want := minus(vb, va); !slices.Equal(names(lost), want) {
			t.Fatalf("variant %d, %s loses %v, want %v", variant, emp, names(lost), want)
		}
	}
}

// minus returns the rows of a not in b as sorted "table/id" names.
func minus(a, b map[string][]string) []string {
	var out []string
	for table, ids := range a {
		for _, id := range ids {
			if !slices.Contains(b[table], id) {
				out = append(out, table+"/"+id)
			}
		}
	}
	slices.Sort(out)
	return out
}

func names(rs []visibility.Row) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Table+"/"+r.ID)
	}
	slices.Sort(out)
	return out
}
