package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
)

// userGroup is admin user: the console's and the API's users.
func userGroup(c *conn) *cobra.Command {
	g := group("user", "console and API users: add, list, disable, enable, reset password", "verb",
		userAdd(c), userList(c), userSetDisabled(c, true), userSetDisabled(c, false), userResetPassword(c))
	g.Example = "fieldsync admin user add tess --employee emp-ann\nfieldsync admin user list --json"
	return g
}

// readPassword reads a password from the first line of r, which must not
// be a terminal: typed there, the password would show.
func readPassword(r io.Reader) (string, error) {
	if isTerminalReader(r) {
		return "", fmt.Errorf("%w: the password is read from a pipe, not typed (it would show): printf '%%s\\n' \"$PASSWORD\" | fieldsync ...", errUsage)
	}
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", fmt.Errorf("%w: no password on stdin (give it as its first line)", errUsage)
	}
	return pw, nil
}

// readNewPassword reads a password to give a user as readPassword does,
// and checks it against the rules of passwords (fieldsync.CheckPassword).
func readNewPassword(r io.Reader) (string, error) {
	pw, err := readPassword(r)
	if err != nil {
		return "", err
	}
	return pw, fieldsync.CheckPassword(pw)
}

// isTerminalReader says whether r is a terminal.
func isTerminalReader(r io.Reader) bool {
	w, ok := r.(io.Writer)
	return ok && isTerminal(w)
}

func userAdd(c *conn) *cobra.Command {
	var employee string
	var admin, stdin bool
	cmd := &cobra.Command{
		Use: "add LOGIN --employee EMPLOYEE_ID", Short: "add a user (the password is chosen at the first console sign-in, or read from stdin)",
		Args: exactly(1), Annotations: arguments("LOGIN", fmt.Sprintf("the user's login: 1-%d letters, digits, _ . or -", fieldsync.MaxLogin)),
		Example: "fieldsync admin user add tess --employee emp-ann\nprintf '%s\\n' \"$PASSWORD\" | fieldsync admin user add tess --employee emp-ann --password-stdin",
	}
	cmd.Flags().StringVar(&employee, "employee", "", "the employee `EMPLOYEE_ID` the user is (needed)")
	cmd.Flags().BoolVar(&admin, "admin", false, "an administrator (else a connected user: records and files only)")
	cmd.Flags().BoolVar(&stdin, "password-stdin", false, fmt.Sprintf("read the password from stdin's first line (at least %d characters)", fieldsync.MinPassword))
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		if employee == "" {
			return fmt.Errorf("%w: admin user add LOGIN --employee EMPLOYEE_ID", errUsage)
		}
		// The rules of users (fieldsync's, the server's) are checked here
		// first, with the server's words; the server checks the employee.
		if err := fieldsync.CheckLogin(pos[0]); err != nil {
			return err
		}
		req := api.NewUser{Login: pos[0], EmployeeID: employee, Admin: admin}
		if stdin {
			var err error
			if req.Password, err = readNewPassword(cmd.InOrStdin()); err != nil {
				return err
			}
		}
		return c.call(func(ctx context.Context, cl *api.Client, pos []string, out io.Writer) error {
			u, err := cl.AddUser(ctx, req)
			if err != nil {
				return err
			}
			return c.print(out, u, func() {
				fmt.Fprintf(out, "user %s added for employee %s as %s\n", u.Login, u.EmployeeID, roleName(u))
				if !u.HasPassword {
					fmt.Fprintln(out, "The password is chosen at the first sign-in to the console (/ui/).")
				}
			})
		})(cmd, pos)
	}
	return cmd
}

// roleName says what a user may do, in words.
func roleName(u fieldsync.User) string {
	if u.Admin {
		return "administrator"
	}
	return "connected user"
}

// userState is a user's state as the list shows it.
func userState(u fieldsync.User) string {
	switch {
	case u.Disabled:
		return "disabled"
	case !u.HasPassword:
		return "no password yet"
	}
	return "active"
}

func userList(c *conn) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "list the users", Args: noArgs,
		Example: "fieldsync admin user list\nfieldsync admin user list --json",
		RunE: c.call(func(ctx context.Context, cl *api.Client, _ []string, out io.Writer) error {
			users, err := cl.Users(ctx)
			if err != nil {
				return err
			}
			return c.print(out, users, func() {
				if len(users) == 0 {
					fmt.Fprintln(out, "(no users)")
					return
				}
				tw := newTable(out)
				fmt.Fprintln(tw, "LOGIN\tEMPLOYEE\tROLE\tSTATE\tCREATED")
				for _, u := range users {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Login, u.EmployeeID, roleName(u), userState(u), when(u.Created))
				}
				tw.Flush()
			})
		}),
	}
}

// userVerb makes an admin user verb of one LOGIN argument.
func userVerb(c *conn, use, short, example string, run func(ctx context.Context, cl *api.Client, login string, out io.Writer) error) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Example: example, Args: exactly(1),
		Annotations: arguments("LOGIN", "the user's login"),
		RunE: c.call(func(ctx context.Context, cl *api.Client, pos []string, out io.Writer) error {
			return run(ctx, cl, pos[0], out)
		}),
	}
}

func userSetDisabled(c *conn, disable bool) *cobra.Command {
	verb, short := "enable", "let a disabled user sign in again"
	if disable {
		verb, short = "disable", "disable a user: its console sessions and API credentials stop at once"
	}
	return userVerb(c, verb+" LOGIN", short, "fieldsync admin user "+verb+" tess",
		func(ctx context.Context, cl *api.Client, login string, out io.Writer) error {
			set := cl.EnableUser
			if disable {
				set = cl.DisableUser
			}
			u, err := set(ctx, login)
			if err != nil {
				return err
			}
			return c.print(out, u, func() { fmt.Fprintf(out, "user %s %sd\n", u.Login, verb) })
		})
}

func userResetPassword(c *conn) *cobra.Command {
	var stdin bool
	cmd := userVerb(c, "reset-password LOGIN", "reset a user's password: chosen at the next console sign-in, or read from stdin",
		"fieldsync admin user reset-password tess\nprintf '%s\\n' \"$PASSWORD\" | fieldsync admin user reset-password tess --password-stdin", nil)
	cmd.Flags().BoolVar(&stdin, "password-stdin", false, fmt.Sprintf("read the new password from stdin's first line (at least %d characters)", fieldsync.MinPassword))
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		pw := ""
		if stdin {
			var err error
			if pw, err = readNewPassword(cmd.InOrStdin()); err != nil {
				return err
			}
		}
		return c.call(func(ctx context.Context, cl *api.Client, pos []string, out io.Writer) error {
			u, err := cl.SetUserPassword(ctx, pos[0], pw)
			if err != nil {
				return err
			}
			return c.print(out, u, func() {
				if pw == "" {
					fmt.Fprintf(out, "user %s: password reset; the user chooses a new one at the next console sign-in\n", u.Login)
				} else {
					fmt.Fprintf(out, "user %s: password set\n", u.Login)
				}
			})
		})(cmd, pos)
	}
	return cmd
}
