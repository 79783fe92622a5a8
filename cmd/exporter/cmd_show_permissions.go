package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/ado-access/ado-access/internal/diff"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// permissionFlags are the show flags of 'show permissions' and
// 'show who-can'.
type permissionFlags struct {
	repo, project, subject, permission string
}

// effectiveColumns are the columns of 'show permissions' and 'show
// who-can' in JSON and CSV; the table shows the main ones.
var effectiveColumns = []string{"subject_descriptor", "subject_name", "subject_kind", "namespace", "resource_kind", "resource",
	"token", "permission", "decision", "source_token", "source_identity", "source_name", "via", "admin_override_possible"}

// adminOverrideLegend explains the table's deny* (admin_override_possible).
const adminOverrideLegend = "deny*: denied, but a member of Project Collection Administrators, whom Microsoft documents may get a permission even when denied it in another group (README: Effective permissions)"

// showPermissions answers 'show permissions' (effective permissions of a
// repository, a project or a subject, allowed and denied) and 'show who-can
// PERMISSION --repo NAME' (the accounts allowed it on that repository, and
// the collection administrators denied it, who may get it all the same:
// a reviewer is not to read their absence as "cannot").
func showPermissions(ctx context.Context, env *Env, st *snapshot.Store, run int64, args []string, pf permissionFlags, format string) error {
	whoCan := args[0] == "who-can"
	switch {
	case whoCan && len(args) != 2:
		return usageErrorf("show who-can needs one PERMISSION argument (ForcePush, PolicyExempt, GenericContribute, …)")
	case whoCan && pf.repo == "" && pf.project == "":
		return usageErrorf("show who-can %s needs --repo NAME (or --project NAME)", args[1])
	case !whoCan && len(args) != 1:
		return usageErrorf("unexpected argument %q (show permissions takes --repo, --project, --subject and --permission)", args[1])
	}
	p, err := diff.LoadPermissions(ctx, st, run)
	if err != nil {
		return err
	}
	if len(p.Namespaces()) == 0 {
		return fmt.Errorf("run %d holds no permissions: sync with a credential that has Security (Manage), and without --no-permissions", run)
	}
	f := diff.PermissionFilter{IncludeDeny: true, Permission: pf.permission}
	if whoCan {
		f.Permission = args[1]
	}
	if f.Permission != "" && !knownPermission(p, f.Permission) {
		return usageErrorf("no namespace read has a permission %q (names as the namespace has them: GenericRead, GenericContribute, ForcePush, PolicyExempt, ManagePermissions, …)", f.Permission)
	}
	switch {
	case pf.repo != "":
		token, err := p.Repository(pf.repo)
		if err != nil {
			return err
		}
		tokens := []string{token}
		if !whoCan {
			tokens = append(tokens, p.BranchTokens(token)...)
		}
		f.Tokens = map[string][]string{diff.NsGit: tokens}
	case pf.project != "":
		id, err := p.Project(pf.project)
		if err != nil {
			return err
		}
		f.Tokens = map[string][]string{}
		for _, ns := range p.Namespaces() {
			if ts := diff.ProjectTokens(ns.ID, id); len(ts) > 0 {
				f.Tokens[ns.ID] = ts
			}
		}
	}
	if pf.subject != "" {
		d, err := findSubject(ctx, st, run, pf.subject)
		if err != nil {
			return err
		}
		f.Subject = d
	}
	shown := effectiveColumns
	if format == "table" {
		shown = []string{"subject_name", "subject_kind", "resource", "permission", "decision", "via", "source"}
		if whoCan {
			shown = []string{"subject_name", "subject_kind", "resource", "decision", "via", "source"}
		}
	}
	w, err := newRowWriter(env.Stdout, format, shown)
	if err != nil {
		return err
	}
	n, marked := 0, 0
	err = p.Effective(ctx, f, func(e diff.EffectivePermission) error {
		if whoCan && e.Deny && !e.AdminOverridePossible {
			return nil
		}
		n++
		decision := "allow"
		if e.Deny {
			decision = "deny"
		}
		if format == "table" {
			if e.AdminOverridePossible {
				decision += "*"
				marked++
			}
			source := e.Identity.Name + " on " + p.Resource(e.Namespace, e.SourceToken).Name
			row := []any{e.SubjectName, e.SubjectKind, e.Resource.Name, e.Action.Name, decision, e.ViaText(), source}
			if whoCan {
				row = []any{e.SubjectName, e.SubjectKind, e.Resource.Name, decision, e.ViaText(), source}
			}
			return w.Row(row)
		}
		return w.Row([]any{e.Subject, e.SubjectName, e.SubjectKind, e.Namespace.Name, e.Resource.Kind, e.Resource.Name,
			e.Token, e.Action.Name, decision, e.SourceToken, e.Identity.Descriptor, e.Identity.Name, e.ViaText(), e.AdminOverridePossible})
	})
	if err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if format == "table" {
		fmt.Fprintf(env.Stderr, "%d permission(s) at run %d\n", n, run)
		if marked > 0 {
			fmt.Fprintln(env.Stderr, adminOverrideLegend)
		}
	}
	return nil
}

// knownPermission reports whether some namespace read names the action.
func knownPermission(p *diff.PermissionSnapshot, name string) bool {
	for _, ns := range p.Namespaces() {
		if _, ok := ns.Bit(name); ok {
			return true
		}
	}
	return strings.TrimSpace(name) == ""
}
