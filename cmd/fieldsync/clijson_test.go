package main

import (
	"os"
	"path/filepath"
	"strings"
)

// This file holds the parts of TestJSONEverywhere (clioutput_test.go)
// about the administrator's commands past nodes, a row's history, a
// node's files, and admin backup and restored.

// jsonKeys runs a command line with --json, which must print a JSON
// object with the keys, or a list of such objects (not empty), and returns
// it as json does.
func (s *binSession) jsonKeys(keys []string, args ...string) map[string]any {
	s.t.Helper()
	v := s.json(append(args, "--json")...)
	objs := []any{v}
	if list, ok := v["list"].([]any); ok && len(v) == 1 {
		if len(list) == 0 {
			s.t.Errorf("fieldsync %s --json: an empty list", strings.Join(args, " "))
		}
		objs = list
	}
	for _, o := range objs {
		m, _ := o.(map[string]any)
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				s.t.Errorf("fieldsync %s --json lacks %q: %v", strings.Join(args, " "), k, o)
			}
		}
	}
	return v
}

// jsonOfAdmin: admin node reactivate, the admin user verbs, admin schema
// show and plan, admin why and record history print JSON (run after
// TestJSONEverywhere made its rows and its nodes, bob-laptop deactivated).
func jsonOfAdmin(s *binSession) {
	s.t.Helper()
	if n := s.jsonKeys([]string{"name", "employee_id", "active"}, "admin", "node", "reactivate", "bob-laptop"); n["active"] != true {
		s.t.Errorf("admin node reactivate --json: %v", n)
	}
	user := []string{"login", "employee_id", "admin", "disabled", "created", "has_password"}
	if u := s.jsonKeys(user, "admin", "user", "add", "tess", "--employee", "ann"); u["login"] != "tess" || u["has_password"] != false {
		s.t.Errorf("admin user add --json: %v", u)
	}
	s.jsonKeys(user, "admin", "user", "list")
	if u := s.jsonKeys(user, "admin", "user", "disable", "tess"); u["disabled"] != true {
		s.t.Errorf("admin user disable --json: %v", u)
	}
	if u := s.jsonKeys(user, "admin", "user", "enable", "tess"); u["disabled"] != false {
		s.t.Errorf("admin user enable --json: %v", u)
	}
	s.jsonKeys(user, "admin", "user", "reset-password", "tess")
	if sch := s.jsonKeys([]string{"version", "source", "yaml", "versions"}, "admin", "schema", "show"); sch["version"] != 1.0 {
		s.t.Errorf("admin schema show --json: version %v", sch["version"])
	}
	file := filepath.Join(s.dir, "crm.yaml")
	if err := os.WriteFile(file, []byte(s.ok("schema")), 0o644); err != nil {
		s.t.Fatal(err)
	}
	if p := s.jsonKeys([]string{"from_version", "to_version", "source", "same", "steps", "nodes", "total"}, "admin", "schema", "plan", file); p["same"] != true {
		s.t.Errorf("admin schema plan --json of the schema in force: %v", p)
	}
	if w := s.jsonKeys([]string{"node", "employee", "table", "id", "visible", "text"}, "admin", "why", "ann-laptop", "opportunity", "deal"); w["visible"] != true {
		s.t.Errorf("admin why --json: %v", w)
	}
	s.jsonKeys([]string{"seq", "time", "op", "origin", "user"}, "record", "history", "account", "acme")
}

// jsonOfOperator: admin sessions, admin refusals and admin node delete
// print JSON (run after ann-laptop synced).
func jsonOfOperator(s *binSession) {
	s.t.Helper()
	s.jsonKeys([]string{"id", "node", "started", "ended", "up_files", "down_files", "result"}, "admin", "sessions")
	s.jsonKeys([]string{"id", "node", "result"}, "admin", "sessions", "--node", "ann-laptop", "--limit", "1")
	s.jsonKeys([]string{"uploads", "changes"}, "admin", "refusals")
	s.jsonKeys([]string{"uploads", "changes"}, "admin", "refusals", "--node", "ann-laptop")
	if del := s.jsonKeys([]string{"node", "folder_removed"}, "admin", "node", "delete", "bob-laptop", "--yes", "--force"); del["folder_removed"] != true {
		s.t.Errorf("admin node delete --json: %v", del)
	}
}

// jsonBackup: admin backup prints JSON; the backup it writes, of the
// server's data folder data, is returned for jsonOfRestored.
func jsonBackup(s *binSession, data string) string {
	s.t.Helper()
	out := filepath.Join(s.dir, "backup.db")
	if b := s.jsonKeys([]string{"backup"}, "admin", "backup", "--data", data, "--out", out); b["backup"] != out {
		s.t.Errorf("admin backup --json: %v", b)
	}
	return out
}

// jsonOfRestored: admin restored prints JSON, in a data folder of its own
// holding the backup (taken before any node was registered: it asks for
// no extract, an empty list).
func jsonOfRestored(s *binSession, backup string) {
	s.t.Helper()
	data := filepath.Join(s.dir, "restored-data")
	db, err := os.ReadFile(backup)
	if err == nil {
		err = os.Mkdir(data, 0o700)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(data, "server.db"), db, 0o600)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	rep := s.jsonKeys([]string{"previous_incarnation", "incarnation", "log_last_seq", "reextracted", "txnproc_removed",
		"outbox_removed", "inbox_removed", "inbox_forgotten", "folders_removed"}, "admin", "restored", "--data", data)
	if nodes, ok := rep["reextracted"].([]any); !ok || len(nodes) != 0 {
		s.t.Errorf("admin restored --json of a backup without nodes: reextracted %#v, want []", rep["reextracted"])
	}
}
