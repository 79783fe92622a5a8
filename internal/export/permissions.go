package export

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ado-access/ado-access/internal/diff"
)

// The permission findings.
const (
	FindRepoPrivileged  = "repository_privileged_permission"
	FindDirectUser      = "direct_user_permission"
	FindUnknownIdentity = "permission_for_unknown_identity"
)

// repoPrivileged are the Git permissions that let an account get around a
// repository's controls: administer it, rewrite its history, push or
// complete pull requests past its policies, change its permissions.
var repoPrivileged = []string{"Administer", "ForcePush", "PolicyExempt", "PullRequestBypassPolicy", "ManagePermissions"}

// PrivilegedPermissions are, per namespace, the permissions a review packet
// lists in effective_permissions (unless Options.AllPermissions): those
// that change who can do what, bypass a control, or destroy or rewrite
// what others rely on. Reading and everyday contributing are left to the
// warehouse, which has every permission.
var PrivilegedPermissions = map[string][]string{
	"Git Repositories": {"Administer", "ForcePush", "PolicyExempt", "PullRequestBypassPolicy", "ManagePermissions", "EditPolicies",
		"DeleteRepository", "RenameRepository", "RemoveOthersLocks"},
	"Project": {"GENERIC_WRITE", "DELETE", "RENAME", "MANAGE_PROPERTIES", "MANAGE_SYSTEM_PROPERTIES", "UPDATE_VISIBILITY",
		"CHANGE_PROCESS", "BYPASS_RULES", "WORK_ITEM_PERMANENTLY_DELETE", "SUPPRESS_NOTIFICATIONS"},
	"Build": {"AdministerBuildPermissions", "EditBuildDefinition", "DeleteBuildDefinition", "DestroyBuilds", "OverrideBuildCheckInValidation"},
	"ReleaseManagement": {"AdministerReleasePermissions", "EditReleaseDefinition", "DeleteReleaseDefinition", "ManageReleaseApprovers",
		"ManageDeployments"},
	"Identity": {"Write", "Delete", "ManageMembership"},
}

// privilegedPermission reports whether a packet lists the permission.
func privilegedPermission(namespace, action string) bool {
	return slices.Contains(PrivilegedPermissions[namespace], action)
}

// permissionRows streams the access control entries and notes the direct
// user entries and the entries of identities not in the organization.
func (j *job) permissionRows(ctx context.Context, emit func(Row) error) error {
	p, err := diff.LoadPermissions(ctx, j.st, j.run.ID)
	if err != nil {
		return err
	}
	j.perms = p
	return p.Entries(func(a diff.ACE) error {
		allow, deny := strings.Join(a.Namespace.Names(a.Allow), ", "), strings.Join(a.Namespace.Names(a.Deny), ", ")
		s := a.Subject
		r := a.Resource
		if err := emit(Row{a.Namespace.Name, a.Token, r.Kind, r.Name, r.Project, r.Repository, r.Branch, a.Inherit,
			s.Identity, s.Descriptor, s.Name, s.Kind, s.Known, allow, deny, a.Allow, a.Deny}); err != nil {
			return err
		}
		what := describeBits(allow, deny) + " on " + a.Namespace.Name + " " + r.Name
		switch {
		case !s.Known:
			j.find(FindUnknownIdentity, s.Descriptor, s.Identity, "", "",
				"an identity not in the organization holds an entry: "+what)
		case s.Kind != "group":
			j.find(FindDirectUser, s.Descriptor, s.Name, "", "",
				"a permission given to the account itself, not through a group: "+what)
		}
		return nil
	})
}

func describeBits(allow, deny string) string {
	var parts []string
	if allow != "" {
		parts = append(parts, "allowed "+allow)
	}
	if deny != "" {
		parts = append(parts, "denied "+deny)
	}
	return strings.Join(parts, "; ")
}

// effectivePermissionRows streams every account's effective permissions,
// and notes, per repository and privileged permission, who holds it.
func (j *job) effectivePermissionRows(ctx context.Context, all bool, emit func(Row) error) error {
	p := j.perms
	if p == nil {
		var err error
		if p, err = diff.LoadPermissions(ctx, j.st, j.run.ID); err != nil {
			return err
		}
	}
	j.perms = nil
	type holders struct {
		resource, permission string
		names                []string
		n                    int
	}
	risky := map[string]*holders{}
	err := p.Effective(ctx, diff.PermissionFilter{IncludeDeny: true}, func(e diff.EffectivePermission) error {
		decision := "allow"
		if e.Deny {
			decision = "deny"
		}
		r := e.Resource
		if all || privilegedPermission(e.Namespace.Name, e.Action.Name) {
			if err := emit(Row{e.Subject, e.SubjectName, e.SubjectKind, e.Namespace.Name, r.Kind, r.Name, r.Project, r.Repository, r.Branch,
				e.Token, e.Action.Name, decision, e.SourceToken, e.Identity.Descriptor, e.Identity.Name, e.ViaText(), strings.Join(e.Via, " > "),
				e.AdminOverridePossible}); err != nil {
				return err
			}
		}
		if e.Deny || r.Kind != "repository" || e.Namespace.ID != diff.NsGit || !slices.Contains(repoPrivileged, e.Action.Name) {
			return nil
		}
		k := e.Token + "\x1f" + e.Action.Name
		h := risky[k]
		if h == nil {
			h = &holders{resource: r.Name, permission: e.Action.Name}
			risky[k] = h
		}
		h.n++
		if len(h.names) < 5 {
			h.names = append(h.names, e.SubjectName)
		}
		return nil
	})
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(risky))
	for k := range risky {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(strings.Compare(risky[a].resource, risky[b].resource), slices.Index(repoPrivileged, risky[a].permission)-slices.Index(repoPrivileged, risky[b].permission))
	})
	for _, k := range keys {
		h := risky[k]
		who := strings.Join(h.names, ", ")
		if h.n > len(h.names) {
			who += fmt.Sprintf(" and %d more", h.n-len(h.names))
		}
		j.find(FindRepoPrivileged, "", "", "", "",
			fmt.Sprintf("%s on %s: %s (see effective_permissions)", h.permission, h.resource, accounts(int64(h.n))+": "+who))
	}
	return nil
}
