package console

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/admin"
)

// nodesData is what the nodes page shows; Secret is a just-made secret,
// shown this once.
type nodesData struct {
	Nodes  []fieldsync.Node
	CSRF   string
	Secret string
	For    string
	Error  string
}

func (c *Console) extracts() admin.Extracts[any] {
	return admin.Extracts[any]{Take: c.opts.Extract, Request: c.opts.RequestExtract}
}

func (c *Console) nodes(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.showNodes(w, r, s, nodesData{}, http.StatusOK)
}

func (c *Console) showNodes(w http.ResponseWriter, r *http.Request, s *session, d nodesData, status int) error {
	nodes, err := c.st.ListNodes(r.Context())
	if err != nil {
		return err
	}
	d.Nodes, d.CSRF = nodes, s.csrf
	c.render(w, r, s, status, "nodes", "Nodes", d)
	return nil
}

func (c *Console) addNode(w http.ResponseWriter, r *http.Request, s *session) error {
	name, emp := strings.TrimSpace(r.PostForm.Get("name")), strings.TrimSpace(r.PostForm.Get("employee_id"))
	added, err := admin.AddNode(r.Context(), c.st, c.extracts(), c.log, name, emp)
	if err != nil {
		return c.showNodes(w, r, s, nodesData{Error: err.Error()}, http.StatusBadRequest)
	}
	d := nodesData{Secret: added.Secret, For: added.Node.Name}
	if added.ExtractErr != nil {
		d.Error = added.ExtractErr.Error()
	}
	return c.showNodes(w, r, s, d, http.StatusOK)
}

// nodeVerb deactivates a node, gives it a new secret, or re-extracts it.
func (c *Console) nodeVerb(w http.ResponseWriter, r *http.Request, s *session) error {
	name := r.PathValue("name")
	ctx := r.Context()
	switch r.PathValue("verb") {
	case "deactivate":
		if _, err := c.st.DeactivateNode(ctx, name); err != nil {
			return err
		}
		c.log.Info("node deactivated", "node", name, "by", s.label())
	case "secret":
		secret, err := admin.ResetSecret(ctx, c.st, c.log, name)
		if err != nil {
			return err
		}
		return c.showNodes(w, r, s, nodesData{Secret: secret, For: name}, http.StatusOK)
	case "reextract":
		if _, _, err := admin.Reextract(ctx, c.st, c.extracts(), name); err != nil {
			return err
		}
	default:
		return fieldsync.Errorf(fieldsync.ErrNotFound, "no node action %q", r.PathValue("verb"))
	}
	http.Redirect(w, r, Base+"admin/nodes?flash="+url.QueryEscape("Done: "+r.PathValue("verb")+" "+name+"."), http.StatusSeeOther)
	return nil
}

// quiet is how long a node may go without syncing before the pipeline
// page points it out.
const quiet = 24 * time.Hour

// pipelineData is the pipeline at a glance.
type pipelineData struct {
	Status fieldsync.Status
	Quiet  []string
	Error  string
	At     string
	Chart  *chartData
}

func (c *Console) pipeline(w http.ResponseWriter, r *http.Request, s *session) error {
	d := pipelineData{At: time.Now().UTC().Format(time.RFC3339)}
	if c.opts.Status == nil {
		d.Error = "this process does not collect the pipeline's status"
	} else if st, err := c.opts.Status(r.Context()); err != nil {
		d.Error = err.Error()
	} else {
		d.Status = st
		chart := makeChart(c.chart.look(), time.Now())
		d.Chart = &chart
		for _, n := range st.Nodes {
			if n.Active && (n.LastSync.IsZero() || time.Since(n.LastSync) > quiet) {
				d.Quiet = append(d.Quiet, n.Name)
			}
		}
	}
	c.render(w, r, s, http.StatusOK, "pipeline", "Pipeline", d)
	return nil
}

// usersData is what the users page shows: the form to add a user, which
// after a refused addition shows what was typed and the refused field's
// message next to it (Error: a refusal of no one field), and the users.
type usersData struct {
	Users []fieldsync.User
	CSRF  string
	Error string
	Form  []userField
	Admin bool
}

// userField is one input of the form adding a user.
type userField struct {
	Name, ID, Label, Type, Autocomplete string
	// Picker is where the picker script searches (the employee id).
	Picker string
	// Value is what was typed (never a password); Error the field's
	// message after a refused addition.
	Value, Error string
}

// userForm is the form adding a user, showing u as typed and the message
// of a refused field (errs by fieldsync.UserLogin, UserEmployee or
// UserPassword).
func userForm(u fieldsync.User, errs map[string]string) []userField {
	return []userField{
		{Name: fieldsync.UserLogin, ID: "user-login", Label: "Login", Type: "text", Autocomplete: "off",
			Value: u.Login, Error: errs[fieldsync.UserLogin]},
		{Name: fieldsync.UserEmployee, ID: "user-employee", Label: "Employee id", Type: "text", Autocomplete: "off",
			Picker: Base + "pick/employee", Value: u.EmployeeID, Error: errs[fieldsync.UserEmployee]},
		{Name: fieldsync.UserPassword, ID: "user-password", Label: "Password (empty: set at first sign-in)", Type: "password",
			Autocomplete: "new-password", Error: errs[fieldsync.UserPassword]},
	}
}

func (c *Console) users(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.showUsers(w, r, s, usersData{Form: userForm(fieldsync.User{}, nil)}, http.StatusOK)
}

func (c *Console) showUsers(w http.ResponseWriter, r *http.Request, s *session, d usersData, status int) error {
	users, err := c.st.ListUsers(r.Context())
	if err != nil {
		return err
	}
	d.Users, d.CSRF = users, s.csrf
	c.render(w, r, s, status, "users", "Users", d)
	return nil
}

// addUser adds a user, whose password is set at the first sign-in unless
// one is given. The rules are those of fieldsync (user.go), the API's: a
// refused login, employee id or password is shown next to its field.
func (c *Console) addUser(w http.ResponseWriter, r *http.Request, s *session) error {
	u := fieldsync.User{Login: strings.TrimSpace(r.PostForm.Get("login")), EmployeeID: strings.TrimSpace(r.PostForm.Get("employee_id")),
		Admin: r.PostForm.Get("admin") == "on"}
	err := fieldsync.CheckLogin(u.Login)
	var hash []byte
	if pw := r.PostForm.Get("password"); err == nil && pw != "" {
		hash, err = fieldsync.HashPassword(pw)
	}
	if err == nil {
		_, err = c.st.AddUser(r.Context(), u, hash)
	}
	if err != nil {
		if !errors.Is(err, fieldsync.ErrInvalid) && !errors.Is(err, fieldsync.ErrExists) {
			return err
		}
		d := usersData{Admin: u.Admin}
		if field := fieldsync.UserField(err); field != "" {
			d.Form = userForm(u, map[string]string{field: err.Error()})
		} else {
			d.Form, d.Error = userForm(u, nil), err.Error()
		}
		return c.showUsers(w, r, s, d, http.StatusBadRequest)
	}
	c.log.Info("user added", "login", u.Login, "admin", u.Admin, "by", s.label())
	http.Redirect(w, r, Base+"admin/users?flash="+url.QueryEscape("Added user "+u.Login+"."), http.StatusSeeOther)
	return nil
}

// userVerb disables, enables or resets the password of a user.
func (c *Console) userVerb(w http.ResponseWriter, r *http.Request, s *session) error {
	login, verb := r.PathValue("login"), r.PathValue("verb")
	var err error
	switch verb {
	case "disable", "enable":
		_, err = c.st.SetUserDisabled(r.Context(), login, verb == "disable")
	case "reset-password":
		err = c.st.SetUserPassword(r.Context(), login, nil)
	default:
		err = fieldsync.Errorf(fieldsync.ErrNotFound, "no user action %q", verb)
	}
	if err != nil {
		return err
	}
	c.log.Info("user changed", "login", login, "action", verb, "by", s.label())
	http.Redirect(w, r, Base+"admin/users?flash="+url.QueryEscape("Done: "+verb+" "+login+"."), http.StatusSeeOther)
	return nil
}
