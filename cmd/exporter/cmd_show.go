package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// showKind is one thing 'exporter show' can list: a named query, its
// arguments, and the columns worth a terminal table (JSON and CSV get all).
type showKind struct {
	query    string
	args     []any
	needsArg string // "GROUP" or "SUBJECT" when the kind takes one
	table    []string
}

var showKinds = map[string]showKind{
	"users":              {query: "accounts", args: []any{sql.Named("kind", "user")}, table: []string{"display_name", "principal_name", "subject_type", "meta_type", "license", "status", "last_accessed", "direct_groups"}},
	"service-accounts":   {query: "accounts", args: []any{sql.Named("kind", "service_account")}, table: []string{"display_name", "principal_name", "subject_type", "direct_groups"}},
	"service-principals": {query: "accounts", args: []any{sql.Named("kind", "service_principal")}, table: []string{"display_name", "application_id", "meta_type", "license", "status", "last_accessed", "direct_groups"}},
	"groups":             {query: "groups", table: []string{"principal_name", "subject_type", "project", "entra_managed", "direct_members"}},
	"memberships":        {query: "memberships", table: []string{"group_name", "member_name", "member_kind"}},
	"members":            {query: "members", needsArg: "GROUP", table: []string{"display_name", "principal_name", "kind"}},
	"access":             {query: "access", needsArg: "SUBJECT", table: []string{"group_name", "via", "path"}},
	"projects":           {query: "projects", table: []string{"name", "state", "visibility", "repositories", "teams"}},
	"teams":              {query: "teams", table: []string{"project", "name", "members", "admins"}},
	"repos":              {query: "repos", table: []string{"project", "name", "default_branch", "is_disabled"}},
}

func showKindNames() []string {
	var names []string
	for k := range showKinds {
		names = append(names, k)
	}
	names = append(names, "permissions", "who-can")
	slices.Sort(names)
	return names
}

func newShowCmd() *Command {
	var (
		sf     storeFlags
		run    int64
		format = newChoice("table", "table", "json", "csv")
		pf     permissionFlags
	)
	return &Command{
		Name:    "show",
		Summary: "print part of a snapshot (users, groups, memberships, access, …)",
		Usage: `
Usage: exporter show KIND [ARG] [--run N] [--format table|json|csv] [--db FILE] [--org URL]
       exporter show permissions --repo NAME | --project NAME | --subject USER [--permission NAME]
       exporter show who-can PERMISSION --repo NAME
       exporter show who-can use CONNECTION

Print one kind of entity as it was in a run's snapshot (the latest complete
run unless --run is given). KIND is one of:

  users                human accounts, with access level and last access
  service-accounts     service identities (svc.)
  service-principals   Entra service principals and managed identities
  groups               Azure DevOps and Entra groups, with direct member counts
  memberships          every direct membership (group_descriptor, member_descriptor)
  members GROUP        the direct members of one group
  access SUBJECT       every group a user (or group) belongs to, directly or
                       through nested groups, with the path
  projects, teams, repos
  service-connections  service connections per project: type, scheme, the
                       Azure subscription, open to all pipelines or which
  checks               checks and approvals per resource (service connection,
                       environment, queue, variable group): type, enabled,
                       the approvers and how many must approve
  pats                 personal access tokens: owner, name, scopes, validity
  who-can use CONNECTION
                       the accounts that may use a service connection (User
                       or Administrator on it, directly or inherited), through
                       nested groups with the path, and its pipelines
  permissions          effective permissions, allowed and denied, of a
                       repository (--repo NAME or PROJECT/NAME, with its
                       branches), a project (--project NAME) or an account
                       (--subject USER), optionally one --permission, each
                       with the entry that decides it and the group path
  who-can PERMISSION   the accounts allowed PERMISSION (as the namespace
                       names it: ForcePush, PolicyExempt, GenericContribute,
                       ManagePermissions, …) on --repo NAME, and the members
                       of Project Collection Administrators denied it, shown
                       deny* (admin_override_possible): Microsoft documents
                       that they may get a permission even when denied it
                       (permissions and who-can read one organization: in a
                       store folder, name it with --org)

GROUP and SUBJECT may be a descriptor, a principal name, a mail address or
a display name. CSV and JSON carry every column (entities with a descriptor
have a 'descriptor' column); the table shows the main ones. Table cells
show control characters escaped (\n, \t) so one row stays one line.

Exit codes: 0 done; 1 failed (no store, a damaged store); 2 bad usage (a
flag, an argument, an organization the store does not hold).

Examples:
  exporter show users
  exporter show access alice@fabrikam.com
  exporter show members "[fabrikam]\Project Collection Administrators"
  exporter show memberships --format csv > memberships.csv
  exporter show who-can ForcePush --repo payments
  exporter show permissions --subject ann@fabrikam.com --permission PolicyExempt
`,
		Flags: func(fs *flag.FlagSet) {
			sf.register(fs)
			fs.Int64Var(&run, "run", 0, "run to read (default: the latest complete run)")
			fs.Var(format, "format", "output format")
			fs.StringVar(&pf.repo, "repo", "", "permissions, who-can: the repository (NAME or PROJECT/NAME)")
			fs.StringVar(&pf.project, "project", "", "permissions, who-can: the project")
			fs.StringVar(&pf.subject, "subject", "", "permissions: the account (descriptor, principal name, mail or display name)")
			fs.StringVar(&pf.permission, "permission", "", "permissions: only this permission (ForcePush, PolicyExempt, …)")
		},
		Run: func(ctx context.Context, env *Env, args []string) error {
			if len(args) == 0 {
				return usageErrorf("what to show? one of %s", strings.Join(showKindNames(), ", "))
			}
			if args[0] == "permissions" || args[0] == "who-can" {
				useCmd := len(args) > 1 && args[0] == "who-can" && args[1] == "use"
				if useCmd && len(args) != 3 {
					return usageErrorf("show who-can use needs one CONNECTION argument (a service connection's name or id)")
				}
				st, err := sf.openForReading(ctx, env)
				if err != nil {
					return err
				}
				defer st.Close()
				r, err := pickRun(ctx, st, run)
				if err != nil {
					return err
				}
				if useCmd {
					return showWhoCanUse(ctx, env, st, r.ID, args[2], format.String())
				}
				return showPermissions(ctx, env, st, r.ID, args, pf, format.String())
			}
			kind, ok := showKinds[args[0]]
			if !ok {
				return usageErrorf("unknown kind %q (want one of %s)", args[0], strings.Join(showKindNames(), ", "))
			}
			switch {
			case kind.needsArg != "" && len(args) != 2:
				return usageErrorf("show %s needs one %s argument", args[0], kind.needsArg)
			case kind.needsArg == "" && len(args) != 1:
				return usageErrorf("unexpected argument %q", args[1])
			}
			stores, closeAll, err := sf.openAllForReading(ctx, env, false)
			if err != nil {
				return err
			}
			defer closeAll()
			if run != 0 && len(stores) > 1 {
				return usageErrorf("--run %d: run ids are per organization, and the folder holds %d; name one with --org", run, len(stores))
			}
			out := &queryOut{env: env, kind: kind, format: format.String()}
			if len(stores) > 1 {
				out.orgColumn = true // several organizations: say whose each row is
			}
			found := false
			for _, st := range stores {
				r, err := pickRun(ctx, st.Store, run)
				if err != nil {
					return err
				}
				qargs := append([]any{sql.Named("run", r.ID)}, kind.args...)
				if kind.needsArg != "" {
					d, err := findSubject(ctx, st.Store, r.ID, args[1])
					if errors.Is(err, errNoSubject) && len(stores) > 1 {
						continue // not in this organization
					}
					if err != nil {
						return err
					}
					qargs = append(qargs, sql.Named("group", d), sql.Named("subject", d))
				}
				found = true
				if err := out.print(ctx, st, qargs, 0); err != nil {
					return err
				}
			}
			if !found {
				return fmt.Errorf("%w: no account or group named %q in any of the %d organizations", errNoSubject, args[1], len(stores))
			}
			return out.close()
		},
	}
}

// pickRun returns run id (which must be complete) or the latest complete run.
func pickRun(ctx context.Context, st *snapshot.Store, id int64) (snapshot.Run, error) {
	if id != 0 {
		return st.CompleteRun(ctx, id)
	}
	return st.LatestRun(ctx)
}

// findSubject resolves a name given on the command line to one descriptor.
func findSubject(ctx context.Context, st *snapshot.Store, run int64, name string) (string, error) {
	type cand struct{ descriptor, display, principal string }
	var found []cand
	err := st.Rows(ctx, "find_subject", []any{sql.Named("run", run), sql.Named("name", name)}, nil, func(v []any) error {
		found = append(found, cand{cell(v[0]), cell(v[1]), cell(v[2])})
		return nil
	})
	if err != nil {
		return "", err
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%w: no account or group named %q in run %d (try a descriptor, principal name or mail address)", errNoSubject, name, run)
	case 1:
		return found[0].descriptor, nil
	}
	var lines []string
	for _, c := range found[:min(len(found), 10)] {
		lines = append(lines, fmt.Sprintf("  %s  %q (%s)", c.descriptor, c.display, c.principal))
	}
	return "", fmt.Errorf("%q matches %d subjects in run %d; name one by descriptor:\n%s", name, len(found), run, strings.Join(lines, "\n"))
}

// printQuery streams a named query in the chosen format; the terminal table
// shows the kind's main columns only. limit > 0 stops after that many rows.
// errNoSubject means a name on the command line matched no account or group.
var errNoSubject = errors.New("not found")

// printQuery prints one query of one store.
func printQuery(ctx context.Context, env *Env, st *snapshot.Store, kind showKind, format string, args []any, limit int) error {
	out := &queryOut{env: env, kind: kind, format: format}
	if err := out.print(ctx, orgStore{Store: st}, args, limit); err != nil {
		return err
	}
	return out.close()
}

// boolColumns are the columns of show's queries that hold booleans (the
// store keeps them as 0 and 1).
var boolColumns = map[string]bool{"entra_managed": true, "is_disabled": true, "deleted_in_origin": true}

// queryOut prints the rows of one kind of query, from one store or several
// (with a leading org column), under one header.
type queryOut struct {
	env       *Env
	kind      showKind
	format    string
	orgColumn bool
	w         rowWriter
	pick      []int
}

func (q *queryOut) print(ctx context.Context, st orgStore, args []any, limit int) error {
	n := 0
	header := func(cols []string) error {
		if q.w != nil {
			return nil // a later store: the header is out
		}
		shown := cols
		q.pick = nil
		if q.format == "table" {
			shown = q.kind.table
			for _, c := range q.kind.table {
				i := slices.Index(cols, c)
				if i < 0 {
					return fmt.Errorf("query %s has no column %s", q.kind.query, c)
				}
				q.pick = append(q.pick, i)
			}
		}
		if q.orgColumn {
			shown = append([]string{"org"}, shown...)
		}
		var err error
		q.w, err = newRowWriter(q.env.Stdout, q.format, shown)
		return err
	}
	var bools []int // columns SQLite holds as 0/1, printed as false/true like packets
	withBools := func(cols []string) error {
		bools = bools[:0]
		for i, c := range cols {
			if boolColumns[c] {
				bools = append(bools, i)
			}
		}
		return header(cols)
	}
	return st.Rows(ctx, q.kind.query, args, withBools, func(vals []any) error {
		if n++; limit > 0 && n > limit {
			return nil
		}
		for _, i := range bools {
			if v, ok := vals[i].(int64); ok {
				vals[i] = v != 0
			}
		}
		if q.pick != nil {
			sel := make([]any, len(q.pick))
			for i, j := range q.pick {
				sel[i] = vals[j]
			}
			vals = sel
		}
		if q.orgColumn {
			vals = append([]any{st.name}, vals...)
		}
		return q.w.Row(vals)
	})
}

func (q *queryOut) close() error {
	if q.w == nil {
		return nil
	}
	return q.w.Close()
}
