package diff

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// label is how people know an account, group or team: its name at the
// newer run, or at the older one when it is gone.
type label struct{ name, kind string }

// labels maps descriptors and team ids to labels. Run diffs fill it from
// the store, packet diffs from the packets' accounts, groups and teams.
type labels map[string]label

// subject labels an account or group; one the labels do not know is named
// by its descriptor.
func (l labels) subject(d string) label {
	if x, ok := l[d]; ok {
		return x
	}
	return label{name: d, kind: kindOfDescriptor(d)}
}

// describe fills a change's Subject, SubjectKind and (but for entities
// named by their rows) Name.
func describe(c *Change, l labels) {
	if c.Fields == nil {
		c.Fields = []Field{} // JSON shows [] rather than null
	}
	switch c.Entity {
	case EntAccounts, EntGroups, EntGroupRules:
		x := l.subject(c.Key)
		c.Subject, c.Name, c.SubjectKind = c.Key, x.name, x.kind
		if c.Entity != EntAccounts {
			c.SubjectKind = "group"
		}
	case EntMemberships, EntEffectiveAccess, EntTeamMembers:
		container, member, _ := strings.Cut(c.Key, " > ")
		m := l.subject(member)
		c.Subject, c.SubjectKind = member, m.kind
		c.Name = l.subject(container).name + " > " + m.name
	}
}

// labelIDs lists the accounts, groups and teams that describe needs, apart
// so that each is looked up in its own table only.
func labelIDs(cs []Change) (accounts, groups, teams []string) {
	seen := map[string]bool{}
	add := func(list *[]string, id string) {
		if !seen[id] {
			seen[id] = true
			*list = append(*list, id)
		}
	}
	subject := func(d string) {
		if isGroupDescriptor(d) {
			add(&groups, d)
		} else {
			add(&accounts, d)
		}
	}
	for _, c := range cs {
		container, member, _ := strings.Cut(c.Key, " > ")
		switch c.Entity {
		case EntAccounts:
			add(&accounts, c.Key)
		case EntGroups, EntGroupRules:
			add(&groups, c.Key)
		case EntMemberships, EntEffectiveAccess:
			add(&groups, container)
			subject(member)
		case EntTeamMembers:
			add(&teams, container)
			subject(member)
		}
	}
	return accounts, groups, teams
}

// lookupLimit is how many names an entity looks up one by one; past it,
// every name of both runs is read in one pass (shared by the entities),
// which is several times cheaper per name.
var lookupLimit = 2000 // a variable for tests

// names reads the names of what the changes name, preferring the newer
// run's.
func (d *runDiff) names(ctx context.Context, cs []Change) (labels, error) {
	accounts, groups, teams := labelIDs(cs)
	switch n := len(accounts) + len(groups) + len(teams); {
	case n == 0:
		return labels{}, nil
	case n > lookupLimit:
		d.allNames.once.Do(func() { d.allNames.l, d.allNames.err = d.readNames(ctx, "diff_labels_all") })
		return d.allNames.l, d.allNames.err
	}
	list := func(ids []string) string {
		js, _ := json.Marshal(ids)
		return string(js)
	}
	return d.readNames(ctx, "diff_labels", sql.Named("accounts", list(accounts)), sql.Named("groups", list(groups)), sql.Named("teams", list(teams)))
}

// readNames runs one of the label queries.
func (d *runDiff) readNames(ctx context.Context, query string, args ...any) (labels, error) {
	args = append(args, sql.Named("from", d.a.ID), sql.Named("to", d.b.ID))
	rows, err := d.st.DB().QueryContext(ctx, snapshot.Query(query), args...)
	if err != nil {
		return nil, fmt.Errorf("read names: %w", err)
	}
	defer rows.Close()
	out := labels{}
	atTo := map[string]bool{}
	for rows.Next() {
		var id, kind, display, principal string
		var to bool
		if err := rows.Scan(&id, &kind, &display, &principal, &to); err != nil {
			return nil, fmt.Errorf("read names: %w", err)
		}
		if atTo[id] && !to {
			continue
		}
		atTo[id] = to
		out[id] = newLabel(id, kind, display, principal)
	}
	return out, rows.Err()
}

// newLabel names an account, group or team from its columns.
func newLabel(id, kind, display, principal string) label {
	switch kind {
	case "group":
		return label{name: GroupName(display, principal, id), kind: kind}
	case "team":
		return label{name: AccountName(display, "", id), kind: kind}
	}
	return label{name: AccountName(display, principal, id), kind: kind}
}
