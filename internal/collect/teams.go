package collect

import (
	"context"
	"errors"
	"strings"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// A full sync derives team members instead of reading them team by team.
// A team is an Azure DevOps group with the team's id (its storage key),
// and the team members API answers that group's direct members, which the
// memberships step has already read in identity batches. The one thing it
// adds, isTeamAdmin, is not kept with the team: a team administrator is an
// identity whose explicit entry on the token "{project}\{team}" in the
// Identity namespace allows ManageMembership (the portal writes it there,
// Terraform's azuredevops_team reads it back from there). One query of that
// namespace's lists answers it for every team. A credential that may not
// read ACLs (no Security scope) gets the team members API, one request per
// team, and the run's note says so.

// manageMembership is the Identity namespace's "Manage group membership"
// bit (security namespace 5a27515b-ccd7-42c9-84f1-54c998f03866).
const manageMembership = 8

// teamAdmins are the administrators read from the Identity namespace:
// legacy identity descriptors by lower-case team id; nil when the lists
// could not be read.
type teamAdmins map[string][]string

// readTeamAdmins reads every ACL of the Identity namespace in one query
// and keeps the entries on team tokens that allow ManageMembership. The
// permissions step reuses the answer rather than asking again.
func readTeamAdmins(ctx context.Context, e *env) error {
	lists, err := e.queryACLs(ctx, namespaceInfo{id: nsIdentityID, name: "Identity"}, "")
	if err != nil {
		if !errors.Is(err, ErrForbidden) {
			return err
		}
		e.c.log.Info("reading team members through the team members API, one request per team", "reason", err)
		e.notes.add("team members read through the team members API (one request per team): the credential may not read the Identity namespace's access control lists (Security scope)")
		return nil
	}
	admins := teamAdmins{}
	for _, l := range lists {
		project, team, ok := strings.Cut(str(l.Token), `\`)
		if !ok || project == "" || strings.Contains(team, `\`) {
			continue // a project's token, or a group's below a team
		}
		team = strings.ToLower(team)
		if l.AcesDictionary == nil {
			continue
		}
		for _, ace := range *l.AcesDictionary {
			if ace.Allow != nil && *ace.Allow&manageMembership != 0 && ace.Descriptor != nil {
				admins[team] = append(admins[team], *ace.Descriptor)
			}
		}
	}
	e.mu.Lock()
	e.admins, e.identityACLs = admins, lists
	e.mu.Unlock()
	return nil
}

// deriveTeamMembers writes each team's members from its group's direct
// members and the administrators read; a team whose group's members were
// not read (deleted or created meanwhile) or whose administrators could
// not be read goes through the team members API.
func deriveTeamMembers(ctx context.Context, e *env) error {
	e.mu.Lock()
	teams, admins, read := e.teams, e.admins, e.membersRead
	e.mu.Unlock()
	if admins == nil {
		return forEach(ctx, e.c.conc, teams, e.readTeam)
	}
	var legacies []string
	for _, ls := range admins {
		legacies = append(legacies, ls...)
	}
	resolved, err := e.ids.resolve(ctx, legacies)
	if err != nil {
		return err
	}
	type derived struct {
		id, group string
		admins    map[string]bool
	}
	var ds []derived
	var rest []teamRef
	for _, t := range teams {
		g, ok := e.ids.descriptorOf(ctx, t.id)
		if !ok || !read[g] {
			rest = append(rest, t)
			continue
		}
		d := derived{id: t.id, group: g, admins: map[string]bool{}}
		for _, l := range admins[strings.ToLower(t.id)] {
			if s, ok := resolved[l]; ok {
				d.admins[s] = true
			}
		}
		ds = append(ds, d)
	}
	if len(rest) > 0 {
		e.c.log.Debug("reading teams through the team members API", "teams", len(rest))
	}
	// The group members were written before this runs (the step waits for
	// memberships), so the writer's transaction holds them.
	n := 0
	err = e.query(ctx, func(w *snapshot.Writer) error {
		for _, d := range ds {
			var rows []snapshot.Row
			if err := w.CurrentWhere(snapshot.Memberships, "container", d.group, func(r snapshot.Row) error {
				m := r[1].(string)
				admin := int64(0)
				if d.admins[m] {
					admin = 1
				}
				rows = append(rows, snapshot.Row{d.id, m, admin})
				return nil
			}); err != nil {
				return err
			}
			n += len(rows)
			if err := w.ReplaceScope(snapshot.TeamMembers, []any{d.id}, rows); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.out.prog.add("team members", n)
	return forEach(ctx, e.c.conc, rest, e.readTeam)
}
