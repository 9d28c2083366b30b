// Package webui holds what the server console (console/) and the field
// user's local view (client ui) both draw: the embedded assets (one CSS file,
// one small script for foreign-key pickers), the page layout template, forms
// built from a *fieldsync.Table, and record lists.
//
// It imports only the root package and the standard library, so a remote
// client can link it without linking any server component.
//
// Use:
//
//	mux.Handle("/ui/assets/", http.StripPrefix("/ui/assets/", webui.Assets()))
//	form := webui.NewForm(table, row)          // a Field per column, current values
//	row, errs := webui.ParseForm(table, r.PostForm, false) // per-field errors on bad input
//	form.SetErrors(errs)
//	page := webui.Page{Title: "opportunity", Base: "/ui/", Body: webui.RenderForm(form)}
//	webui.Render(w, page)
//
// Every value in a page goes through html/template, so nothing a user typed
// is written to a page unescaped.
package webui
