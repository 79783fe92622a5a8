package collect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/security"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// Permissions in an incremental run. An entry that changes an ACL names its
// namespace and token(s); the run re-reads that token and everything below
// it (one query each, with recurse), because the service's extended
// information on the entries below a token depends on the token. Entries
// that change ACLs without naming them map to wider reads:
//
//   - Security.ModifyPermission, RemovePermission, ResetPermission,
//     ModifyAccessControlLists, RemoveAccessControlLists: the tokens named;
//     without a token, the whole namespace.
//   - Project.CreateCompleted, SoftDeleteCompleted, HardDeleteCompleted,
//     RestoreCompleted: the project's token in each namespace (its ACLs come
//     and go with it); a namespace whose project tokens the sync does not
//     know is read whole.
//   - Git.RepositoryCreated and Git.RepositoryDeleted: the repository's
//     token and its branches.
//   - Group.CreateGroups and Group.UpdateGroups.Delete in a project: the
//     project's Identity token (team administrators are entries on the
//     team's group there).
//   - any other Security action (RemoveAllAccessControlLists,
//     RemoveIdentityACEs, ResetAccessControlLists, …): every namespace, read
//     whole.
//
// Entries of namespaces the sync does not read are ignored.

// aclPlan is what an incremental run re-reads of the permissions.
type aclPlan struct {
	synced map[string]bool            // namespace ids the sync reads (lower case)
	tokens map[string]map[string]bool // namespace id → tokens to re-read with what is below them
	whole  map[string]string          // namespace id → why it is read whole
	all    string                     // why every namespace is read whole, if so
}

func newACLPlan(opts SyncOptions) *aclPlan {
	p := &aclPlan{synced: map[string]bool{}, tokens: map[string]map[string]bool{}, whole: map[string]string{}}
	if !opts.Permissions {
		return p
	}
	ns := opts.Namespaces
	if len(ns) == 0 {
		ns = DefaultNamespaces
	}
	for _, n := range ns {
		p.synced[strings.ToLower(n)] = true // names are matched when the run reads the list
	}
	return p
}

// on reports whether the run reads permissions at all.
func (p *aclPlan) on() bool { return len(p.synced) > 0 }

// covers reports whether a namespace (by id) may be among those read. A
// namespace named by name in --namespaces is only known by id once the
// list is read, so an id not among the ids asked for counts when some
// were asked for by name.
func (p *aclPlan) covers(ns string) bool {
	ns = strings.ToLower(ns)
	if p.synced[ns] {
		return true
	}
	for n := range p.synced {
		if !looksLikeID(n) {
			return true
		}
	}
	return false
}

func looksLikeID(s string) bool { return len(s) == 36 && strings.Count(s, "-") == 4 }

func (p *aclPlan) token(ns, token string) {
	ns = strings.ToLower(ns)
	if p.tokens[ns] == nil {
		p.tokens[ns] = map[string]bool{}
	}
	p.tokens[ns][token] = true
}

func (p *aclPlan) readAll(why string) {
	if p.all == "" {
		p.all = why
	}
}

// addSecurity maps a Security entry; false means it touches nothing read.
func (p *aclPlan) addSecurity(e entry) bool {
	if !p.on() {
		return false
	}
	ns := dataStrings(e.data, "NamespaceId")
	if len(ns) != 1 {
		p.readAll(e.action + " names no namespace")
		return true
	}
	if !p.covers(ns[0]) {
		return false
	}
	tokens := append(dataStrings(e.data, "Token"), dataStrings(e.data, "Tokens")...)
	if len(tokens) == 0 {
		if _, ok := p.whole[strings.ToLower(ns[0])]; !ok {
			p.whole[strings.ToLower(ns[0])] = e.action + " names no token"
		}
		return true
	}
	for _, t := range tokens {
		p.token(ns[0], t)
	}
	return true
}

// addProject maps a project created, deleted or restored.
func (p *aclPlan) addProject(project string) {
	for ns := range p.synced {
		if t := projectToken(ns, project); t != "" {
			p.token(ns, t)
		} else if _, ok := p.whole[ns]; !ok {
			p.whole[ns] = "a project was created or deleted, and the tokens of its namespace are not known"
		}
	}
}

// addRepository maps a repository created or deleted.
func (p *aclPlan) addRepository(project, repo string) {
	if p.covers(nsGitID) {
		if project == "" || repo == "" {
			p.whole[nsGitID] = "a repository entry without its project or id"
			return
		}
		p.token(nsGitID, "repoV2/"+strings.ToLower(project)+"/"+strings.ToLower(repo))
	}
}

// addGroup maps a group created or deleted in a project.
func (p *aclPlan) addGroup(project string) {
	if project != "" && p.covers(nsIdentityID) {
		p.token(nsIdentityID, project)
	}
}

// note describes the wide reads for the run's record.
func (p *aclPlan) note() []string {
	var out []string
	if p.all != "" {
		out = append(out, "permissions ("+p.all+")")
	}
	for ns, why := range p.whole {
		out = append(out, "permissions of namespace "+ns+" ("+why+")")
	}
	sort.Strings(out)
	return out
}

// mapPermissions adds the permission re-reads an entry needs, beside what
// plan.add maps it to; it reports whether the entry maps to any.
func (p *plan) mapPermissions(e entry) bool {
	area, _, _ := strings.Cut(e.action, ".")
	a := p.acl
	if !a.on() {
		return false
	}
	switch {
	case area == "Security":
		return a.addSecurity(e)
	case area == "Project" && e.action != "Project.UpdateRenameCompleted" && strings.HasSuffix(e.action, "Completed"):
		id := e.projectID
		if ids := dataStrings(e.data, "ProjectId"); len(ids) > 0 {
			id = strings.ToLower(ids[0])
		}
		if id == "" {
			a.readAll(e.action + " entry without a project id")
		} else {
			a.addProject(id)
		}
		return true
	case e.action == "Git.RepositoryCreated" || e.action == "Git.RepositoryDeleted":
		repo := dataStrings(e.data, "RepoId")
		r := ""
		if len(repo) == 1 {
			r = repo[0]
		}
		a.addRepository(e.projectID, r)
		return true
	case e.action == "Group.CreateGroups" || e.action == "Group.UpdateGroups.Delete":
		a.addGroup(e.projectID)
		return e.projectID != ""
	}
	return false
}

// rereadPermissions re-reads what the plan names. When the namespaces asked
// for are not those the store holds (the first run after an upgrade, or
// --namespaces changed), every namespace is read whole.
func (r *incRun) rereadPermissions(ctx context.Context) error {
	a := r.p.acl
	if !a.on() {
		return nil
	}
	all, chosen, err := r.readNamespaces(ctx)
	var unreadable permissionsUnreadable
	if errors.As(err, &unreadable) {
		r.c.log.Warn("permissions not re-read", "reason", unreadable.err)
		r.notes.add(unreadable.Error())
		return nil
	}
	if err != nil {
		return err
	}
	stored := map[string]bool{}
	if err := r.query(ctx, func(w *snapshot.Writer) error {
		return w.Current(snapshot.SecurityNamespaces, func(row snapshot.Row) error {
			if row[3] == true || row[3] == int64(1) {
				stored[row[0].(string)] = true
			}
			return nil
		})
	}); err != nil {
		return err
	}
	same := len(stored) == len(chosen)
	for _, ns := range chosen {
		same = same && stored[ns.id]
	}
	if !same {
		a.readAll("the namespaces read are not those of the previous run")
	}
	if a.all != "" {
		r.notes.add("re-read in full: permissions (" + a.all + ")")
		return r.rereadAllPermissions(ctx, all, chosen)
	}
	for _, n := range a.note() {
		r.notes.add("re-read in full: " + n)
	}
	return forEach(ctx, r.c.conc, chosen, func(ctx context.Context, ns namespaceInfo) error {
		if _, whole := a.whole[ns.id]; whole {
			return r.rereadUnder(ctx, ns, "")
		}
		tokens := make([]string, 0, len(a.tokens[ns.id]))
		for t := range a.tokens[ns.id] {
			tokens = append(tokens, t)
		}
		slices.Sort(tokens)
		for _, t := range outermost(tokens, ns.separator) {
			if err := r.rereadUnder(ctx, ns, t); err != nil {
				return err
			}
		}
		return nil
	})
}

// outermost drops the tokens below another token of the list: reading a
// token with recurse reads them too.
func outermost(sorted []string, sep string) []string {
	var out []string
	for _, t := range sorted {
		if sep != "" && slices.ContainsFunc(out, func(o string) bool {
			return strings.HasPrefix(strings.ToLower(t), strings.ToLower(o)+strings.ToLower(sep))
		}) {
			continue
		}
		if !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, t) }) {
			out = append(out, t)
		}
	}
	return out
}

// rereadAllPermissions is the full read, inside an incremental run.
func (r *incRun) rereadAllPermissions(ctx context.Context, all []security.SecurityNamespaceDescription, chosen []namespaceInfo) error {
	tables := []*snapshot.Table{snapshot.SecurityNamespaces, snapshot.NamespaceActions, snapshot.ACLs, snapshot.ACEs}
	if err := r.out.do(ctx, func(w *snapshot.Writer) error {
		for _, t := range tables {
			if err := w.StartFull(t); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := r.writeNamespaces(ctx, all, chosen); err != nil {
		return err
	}
	if err := forEach(ctx, r.c.conc, chosen, func(ctx context.Context, ns namespaceInfo) error {
		acls, err := r.queryACLs(ctx, ns, "")
		if err != nil {
			return err
		}
		return r.writeACLs(ctx, ns, acls)
	}); err != nil {
		return err
	}
	return r.out.do(ctx, func(w *snapshot.Writer) error {
		for _, t := range tables {
			if err := w.EndFull(t); err != nil {
				return err
			}
		}
		return nil
	})
}

// rereadUnder re-reads the ACLs of a token and below it (token "": the
// whole namespace) and closes those the store holds there that are gone.
func (r *incRun) rereadUnder(ctx context.Context, ns namespaceInfo, token string) error {
	acls, err := r.queryACLs(ctx, ns, token)
	if err != nil {
		return err
	}
	if err := r.writeACLs(ctx, ns, acls); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, a := range acls {
		seen[*a.Token] = true
	}
	return r.out.do(ctx, func(w *snapshot.Writer) error {
		held, err := w.ACLTokens(ns.id, token, ns.separator)
		if err != nil {
			return fmt.Errorf("read the stored access control lists of %s: %w", ns.name, err)
		}
		for _, t := range held {
			if seen[t] {
				continue
			}
			if err := w.Delete(snapshot.ACLs, ns.id, t); err != nil {
				return err
			}
			if err := w.DeleteScope(snapshot.ACEs, ns.id, t); err != nil {
				return err
			}
		}
		return nil
	})
}
