package main

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/diff"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// 'show service-connections', 'show checks', 'show pats' (the export
// queries of sql/queries/pipelines.sql and checks.sql) and 'show who-can use CONNECTION'.

func init() {
	showKinds["service-connections"] = showKind{query: "export_service_connections",
		table: []string{"project", "name", "type", "auth_scheme", "subscription_name", "all_pipelines", "pipelines", "created_by_name"}}
	showKinds["checks"] = showKind{query: "export_resource_checks", // sql/queries/checks.sql
		table: []string{"project", "resource_type", "resource_name", "type", "display_name", "is_disabled", "min_required_approvers", "approver_names"}}
	showKinds["pats"] = showKind{query: "export_personal_access_tokens",
		table: []string{"owner_name", "owner_principal", "kind", "display_name", "scope", "token_valid_to", "is_global"}}
}

// useRoles are the roles on a connection that let one use it.
var useRoles = []string{"User", "Administrator"}

// showWhoCanUse lists the accounts that may use a service connection (the
// User or Administrator role on it, directly or inherited from the
// project), through nested groups, with the path, and the pipelines that
// may use it.
func showWhoCanUse(ctx context.Context, env *Env, st *snapshot.Store, run int64, name, format string) error {
	args := []any{sql.Named("run", run)}
	type sighting struct{ project, projectName, id, name, pipelines string }
	var seen []sighting
	err := st.Rows(ctx, "export_service_connections", args, nil, func(v []any) error {
		// project_id, project, id, name, … all_pipelines, pipelines (the last two)
		if strings.EqualFold(cell(v[3]), name) || strings.EqualFold(cell(v[2]), name) {
			pipes := cell(v[len(v)-1])
			if cell(v[len(v)-2]) == "1" {
				pipes = "all pipelines"
			}
			seen = append(seen, sighting{cell(v[0]), cell(v[1]), cell(v[2]), cell(v[3]), pipes})
		}
		return nil
	})
	if err != nil {
		return err
	}
	ids := map[string]bool{}
	for _, s := range seen {
		ids[s.id] = true
	}
	switch {
	case len(seen) == 0:
		return fmt.Errorf("%w: no service connection named %q in run %d (show service-connections lists them)", errNoSubject, name, run)
	case len(ids) > 1:
		var lines []string
		for _, s := range seen {
			lines = append(lines, fmt.Sprintf("  %s  %q in %s", s.id, s.name, s.projectName))
		}
		return usageErrorf("%q names %d connections; name one by id:\n%s", name, len(ids), strings.Join(lines, "\n"))
	}
	resources := map[string]sighting{}
	for _, s := range seen {
		resources[s.project+"_"+s.id] = s
	}
	// Who holds a role that uses it, by descriptor.
	type holder struct{ role, project string }
	holders := map[string]holder{}
	err = st.Rows(ctx, "export_resource_roles", args, nil, func(v []any) error {
		// project_id, project, scope, resource_id, identity, subject_descriptor, role, inherited
		s, ok := resources[cell(v[3])]
		if !ok || cell(v[2]) != collect.RoleScopeEndpoint || !slices.Contains(useRoles, cell(v[6])) || cell(v[5]) == "" {
			return nil
		}
		role := cell(v[6])
		if cell(v[7]) == "1" {
			role += " (inherited)"
		}
		holders[cell(v[5])] = holder{role, s.projectName}
		return nil
	})
	if err != nil {
		return err
	}
	names, kinds := map[string]string{}, map[string]string{}
	if err := st.Rows(ctx, "show_subject_names", args, nil, func(v []any) error {
		names[cell(v[0])], kinds[cell(v[0])] = cell(v[1]), cell(v[2])
		return nil
	}); err != nil {
		return err
	}
	type row struct{ subject, name, kind, role, project, via string }
	var rows []row
	for d, h := range holders {
		if kinds[d] != "group" {
			rows = append(rows, row{d, names[d], kinds[d], h.role, h.project, "direct"})
		}
	}
	// Members of the holding groups, through nesting: the effective
	// memberships of the run, kept where the group holds a role.
	best := map[string]int{} // account → index in rows (shortest path wins)
	err = diff.Effective(ctx, st, run, func(g diff.Grant) error {
		h, ok := holders[g.Group]
		if !ok {
			return nil
		}
		path := g.PathNames
		via := "via " + strings.Join(path, " → ")
		if i, ok := best[g.Subject]; ok {
			if strings.Count(rows[i].via, "→") <= len(path)-1 {
				return nil
			}
			rows[i] = row{g.Subject, names[g.Subject], g.SubjectKind, h.role, h.project, via}
			return nil
		}
		if _, direct := holders[g.Subject]; direct {
			return nil // holds a role itself
		}
		best[g.Subject] = len(rows)
		rows = append(rows, row{g.Subject, names[g.Subject], g.SubjectKind, h.role, h.project, via})
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(rows, func(i, j int) bool {
		return rows[i].name < rows[j].name || rows[i].name == rows[j].name && rows[i].subject < rows[j].subject
	})
	cols := []string{"subject_descriptor", "subject_name", "subject_kind", "role", "project", "via"}
	if format == "table" {
		cols = []string{"subject_name", "subject_kind", "role", "project", "via"}
	}
	w, err := newRowWriter(env.Stdout, format, cols)
	if err != nil {
		return err
	}
	for _, r := range rows {
		vals := []any{r.subject, r.name, r.kind, r.role, r.project, r.via}
		if format == "table" {
			vals = vals[1:]
		}
		if err := w.Row(vals); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if format == "table" {
		for _, s := range seen {
			fmt.Fprintf(env.Stderr, "%s in %s: pipelines that may use it: %s\n", s.name, s.projectName, orDash(s.pipelines))
		}
		fmt.Fprintf(env.Stderr, "%d account(s) may use %s at run %d\n", len(rows), seen[0].name, run)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
