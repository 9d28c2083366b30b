package webui_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/internal/webui"
	"github.com/fieldsync/fieldsync/schema"
)

func TestFormParseErrorsNextToField(t *testing.T) {
	s := schema.Default()
	opp := s.Table("opportunity")
	id, vals, errs := webui.ParseForm(opp, url.Values{"id": {"o1"}, "name": {"Deal"}, "revenue": {"lots"}, "stage": {""}})
	if id != "o1" || vals["name"] != "Deal" || vals["stage"] != nil {
		t.Fatalf("id %q vals %v", id, vals)
	}
	if _, sent := vals["close_date"]; sent {
		t.Fatal("a column not posted is in the values")
	}
	if !strings.Contains(errs["revenue"], "expects real") {
		t.Fatalf("errs %v", errs)
	}
	f := webui.NewForm(opp, fieldsync.Row{"id": "o1", "name": "Deal <b>"}, "/ui/pick/")
	f.SetErrors(errs)
	body, err := webui.RenderForm(f)
	if err != nil {
		t.Fatal(err)
	}
	h := string(body)
	for _, want := range []string{`id="f-revenue-err"`, "expects real", `data-picker="/ui/pick/account"`, "Deal &lt;b&gt;", `readonly`} {
		if !strings.Contains(h, want) {
			t.Errorf("form lacks %q:\n%s", want, h)
		}
	}
	rec := httptest.NewRecorder()
	webui.Render(rec, http.StatusOK, webui.Page{Title: "t", Base: "/ui/", Product: "p", Body: body})
	if !strings.Contains(rec.Body.String(), "/ui/assets/webui.css") || rec.Header().Get("Content-Security-Policy") == "" {
		t.Fatal("layout lacks its style sheet or headers")
	}
}

func TestListAndAssets(t *testing.T) {
	s := schema.Default()
	l := webui.NewList(s.Table("account"), []fieldsync.Row{{"id": "a1", "name": "Acme"}}, "/ui/t/account/")
	body, err := webui.RenderList(l)
	if err != nil || !strings.Contains(string(body), `href="/ui/t/account/a1"`) || !strings.Contains(string(body), "Acme") {
		t.Fatalf("list %v: %s", err, body)
	}
	srv := httptest.NewServer(http.StripPrefix("/ui/assets/", webui.Assets()))
	defer srv.Close()
	for _, p := range []string{"webui.css", "picker.js"} {
		resp, err := http.Get(srv.URL + "/ui/assets/" + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("asset %s: %v %v", p, err, resp)
		}
		resp.Body.Close()
	}
}

// TestNewFormStartsWithDefaults: a new row's form shows each column's
// default, so a field left as it is posts the default; a row's form shows
// its values.
func TestNewFormStartsWithDefaults(t *testing.T) {
	s, err := schema.Parse("deals.yaml", []byte(testutil.PeopleYAML+`  deal:
    columns:
      stage: {type: text, required: true, default: prospecting}
      probability: {type: integer, default: 10}
      won: {type: boolean, default: false}
      note: text
    visibility: [all]
`))
	if err != nil {
		t.Fatal(err)
	}
	deal := s.Table("deal")
	posted := url.Values{}
	for _, fd := range webui.NewForm(deal, nil, "").Fields {
		posted.Set(fd.Name, fd.Value)
	}
	_, vals, errs := webui.ParseForm(deal, posted)
	if len(errs) > 0 || vals["stage"] != "prospecting" || vals["probability"] != int64(10) || vals["won"] != false || vals["note"] != nil {
		t.Fatalf("a new row's form posted as shown: %v %v", vals, errs)
	}
	if f := webui.NewForm(deal, fieldsync.Row{"id": "d1", "stage": "won"}, ""); f.Field("stage").Value != "won" || f.Field("probability").Value != "" {
		t.Fatalf("a row's form: stage %q probability %q", f.Field("stage").Value, f.Field("probability").Value)
	}
}
