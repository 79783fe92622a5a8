package collect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/security"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// Permissions: the security namespaces, and the access control lists of the
// namespaces that govern projects and repositories, read with the fewest
// requests: the namespace list once, then one query per namespace for every
// ACL in it (no token: the whole namespace, every project, repository and
// branch at once), with the service's extended information (inherited and
// effective bits of each entry). Entries name identities by legacy
// descriptors; those are resolved to subjects through the sync's resolver
// (and so remembered in the store's identity keys), and an entry whose
// identity nobody can resolve is kept as it is: readers flag it.
//
// Reading ACLs needs Security (Manage), vso.security_manage, or a
// full-access PAT: the service has no read-only scope for them. Without
// it, the run leaves the permission tables as they were and says so in its
// note.

// Well-known namespaces: the default set, and the tokens a project has in
// each (for targeted re-reads when a project comes or goes).
const (
	nsProjectID  = "52d39943-cb85-4d7f-8fa8-c6baac873819"
	nsGitID      = "2e9eb7ed-3c0a-47d4-87c1-0ffdd275fd87"
	nsBuildID    = "33344d9c-fc72-4d6f-aba5-fa317101a7e9"
	nsReleaseID  = "c788c23e-1b46-4162-8f5e-d7585343b5de"
	nsIdentityID = nsIdentity
)

// DefaultNamespaces are the namespaces a sync reads the ACLs of unless told
// otherwise: Project, Git Repositories, Build, ReleaseManagement (the
// pipelines one) and Identity.
var DefaultNamespaces = []string{nsProjectID, nsGitID, nsBuildID, nsReleaseID, nsIdentityID}

// projectToken is the token of a project in a namespace, or "" for a
// namespace whose tokens the sync does not know.
func projectToken(namespace, project string) string {
	switch namespace {
	case nsProjectID:
		return "$PROJECT:vstfs:///Classification/TeamProject/" + project
	case nsGitID:
		return "repoV2/" + project
	case nsBuildID, nsReleaseID, nsIdentityID:
		return project
	}
	return ""
}

// namespaceInfo is what the sync keeps of a namespace to read its ACLs.
type namespaceInfo struct {
	id, name, separator string
}

// permissionsUnreadable says the credential may not read ACLs.
type permissionsUnreadable struct{ err error }

func (p permissionsUnreadable) Error() string {
	return "permissions were not read (the permission tables are as the last run that read them left them): " + p.err.Error()
}

// readNamespaces lists the security namespaces and picks the ones asked
// for (ids or names, case-insensitively; a name two namespaces share picks
// both). An unknown name is an error: a typo must not read nothing.
func (e *env) readNamespaces(ctx context.Context) (all []security.SecurityNamespaceDescription, chosen []namespaceInfo, err error) {
	list, err := e.c.Security.QuerySecurityNamespaces(ctx, security.QuerySecurityNamespacesArgs{})
	if err != nil {
		err = describe("list the security namespaces", "security", err)
		if errors.Is(err, ErrForbidden) {
			return nil, nil, permissionsUnreadable{err}
		}
		return nil, nil, err
	}
	all = deref2(list)
	want := e.opts.Namespaces
	if len(want) == 0 {
		want = DefaultNamespaces
	}
	for _, w := range want {
		found := false
		for _, ns := range all {
			if ns.NamespaceId == nil || ns.Name == nil {
				continue
			}
			if strings.EqualFold(ns.NamespaceId.String(), w) || strings.EqualFold(*ns.Name, w) {
				found = true
				info := namespaceInfo{id: ns.NamespaceId.String(), name: *ns.Name, separator: str(ns.SeparatorValue)}
				if ns.StructureValue != nil && *ns.StructureValue == 0 {
					info.separator = "" // flat: no hierarchy
				}
				if !slices.ContainsFunc(chosen, func(c namespaceInfo) bool { return c.id == info.id }) {
					chosen = append(chosen, info)
				}
			}
		}
		if !found {
			return nil, nil, fmt.Errorf("--namespaces: the organization has no security namespace %q", w)
		}
	}
	slices.SortFunc(chosen, func(a, b namespaceInfo) int { return strings.Compare(a.id, b.id) })
	return all, chosen, nil
}

// namespaceRows are the rows of security_namespaces and namespace_actions.
func namespaceRows(all []security.SecurityNamespaceDescription, chosen []namespaceInfo) (nsRows []snapshot.Row, actions map[string][]snapshot.Row) {
	actions = map[string][]snapshot.Row{}
	for _, ns := range all {
		if ns.NamespaceId == nil {
			continue
		}
		id := ns.NamespaceId.String()
		sep := str(ns.SeparatorValue)
		if ns.StructureValue != nil && *ns.StructureValue == 0 {
			sep = ""
		}
		synced := slices.ContainsFunc(chosen, func(c namespaceInfo) bool { return c.id == id })
		nsRows = append(nsRows, snapshot.Row{id, str(ns.Name), sep, synced})
		for _, a := range deref2(ns.Actions) {
			if a.Bit != nil {
				actions[id] = append(actions[id], snapshot.Row{id, int64(*a.Bit), str(a.Name), str(a.DisplayName)})
			}
		}
	}
	return nsRows, actions
}

// readPermissions is the full read: namespaces, then every ACL of the
// namespaces chosen, one query each.
func readPermissions(ctx context.Context, e *env) error {
	all, chosen, err := e.readNamespaces(ctx)
	var unreadable permissionsUnreadable
	if errors.As(err, &unreadable) {
		e.c.log.Warn("permissions not read", "reason", unreadable.err)
		e.notes.add(unreadable.Error())
		return nil
	}
	if err != nil {
		return err
	}
	tables := []*snapshot.Table{snapshot.SecurityNamespaces, snapshot.NamespaceActions, snapshot.ACLs, snapshot.ACEs}
	if err := e.out.do(ctx, func(w *snapshot.Writer) error {
		for _, t := range tables {
			if err := w.StartFull(t); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := e.writeNamespaces(ctx, all, chosen); err != nil {
		return err
	}
	err = forEach(ctx, e.c.conc, chosen, func(ctx context.Context, ns namespaceInfo) error {
		e.mu.Lock()
		acls := e.identityACLs // read by the team administrators step
		e.mu.Unlock()
		if acls == nil || !strings.EqualFold(ns.id, nsIdentityID) {
			var err error
			if acls, err = e.queryACLs(ctx, ns, ""); err != nil {
				return err
			}
		}
		return e.writeACLs(ctx, ns, acls)
	})
	if err != nil {
		return err
	}
	return e.out.do(ctx, func(w *snapshot.Writer) error {
		for _, t := range tables {
			if err := w.EndFull(t); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *env) writeNamespaces(ctx context.Context, all []security.SecurityNamespaceDescription, chosen []namespaceInfo) error {
	nsRows, actions := namespaceRows(all, chosen)
	return e.out.do(ctx, func(w *snapshot.Writer) error {
		for _, r := range nsRows {
			if err := w.Put(snapshot.SecurityNamespaces, r); err != nil {
				return err
			}
			id := r[0].(string)
			if err := w.ReplaceScope(snapshot.NamespaceActions, []any{id}, actions[id]); err != nil {
				return err
			}
		}
		return nil
	})
}

// queryACLs reads the ACLs of a namespace: all of them (token ""), or
// those of a token and the tokens below it. Only what the service holds is
// kept: entries with bits of their own (the extended answer for a token
// asked for also lists identities that merely inherit there) and ACLs with
// such entries or with inheritance turned off.
func (e *env) queryACLs(ctx context.Context, ns namespaceInfo, token string) ([]security.AccessControlList, error) {
	id := uuid.MustParse(ns.id)
	yes := true
	args := security.QueryAccessControlListsArgs{SecurityNamespaceId: &id, IncludeExtendedInfo: &yes, Recurse: &yes}
	if token != "" {
		args.Token = &token
	}
	list, err := e.c.Security.QueryAccessControlLists(ctx, args)
	if err != nil {
		what := "read the access control lists of namespace " + ns.name
		if token != "" {
			what += " under " + token
		}
		return nil, describe(what, "security", err)
	}
	var out []security.AccessControlList
	for _, a := range deref2(list) {
		if a.Token == nil {
			continue
		}
		aces := map[string]security.AccessControlEntry{}
		if a.AcesDictionary != nil {
			for d, ace := range *a.AcesDictionary {
				if intOf(ace.Allow) != 0 || intOf(ace.Deny) != 0 {
					aces[d] = ace
				}
			}
		}
		inherit := a.InheritPermissions == nil || *a.InheritPermissions
		if len(aces) == 0 && inherit {
			continue
		}
		a.AcesDictionary = &aces
		out = append(out, a)
	}
	return out, nil
}

func intOf(p *int) int64 {
	if p == nil {
		return 0
	}
	return int64(*p)
}

// writeACLs records ACLs as read: each one's inheritance, and its entries
// as the complete set of its token. Their identities are resolved (and the
// resolutions remembered) on the way.
func (e *env) writeACLs(ctx context.Context, ns namespaceInfo, acls []security.AccessControlList) error {
	var legacies []string
	for _, a := range acls {
		for d := range *a.AcesDictionary {
			legacies = append(legacies, d)
		}
	}
	resolved, err := e.ids.resolve(ctx, legacies)
	if err != nil {
		return err
	}
	for l, d := range resolved {
		if err := e.out.identity(ctx, d, "", l); err != nil {
			return err
		}
	}
	for _, a := range acls {
		token := *a.Token
		inherit := a.InheritPermissions == nil || *a.InheritPermissions
		if err := e.out.put(ctx, snapshot.ACLs, "access control lists", snapshot.Row{ns.id, token, inherit}); err != nil {
			return err
		}
		rows := make([]snapshot.Row, 0, len(*a.AcesDictionary))
		for d, ace := range *a.AcesDictionary {
			x := ace.ExtendedInfo
			if x == nil {
				x = &security.AceExtendedInformation{}
			}
			rows = append(rows, snapshot.Row{ns.id, token, d, intOf(ace.Allow), intOf(ace.Deny),
				intOf(x.EffectiveAllow), intOf(x.EffectiveDeny), intOf(x.InheritedAllow), intOf(x.InheritedDeny)})
		}
		e.out.prog.add("access control entries", len(rows))
		if err := e.out.do(ctx, func(w *snapshot.Writer) error {
			return w.ReplaceScope(snapshot.ACEs, []any{ns.id, token}, rows)
		}); err != nil {
			return err
		}
	}
	return nil
}
