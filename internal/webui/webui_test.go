package webui_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
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
