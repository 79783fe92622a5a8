package export

import (
	"context"
	"strings"

	"github.com/ado-access/ado-access/internal/diff"
)

// effective streams the effective access of every account, as
// internal/diff computes it, and keeps the grants of privileged groups in
// a spool for the privileged_access table, counting each privileged
// group's accounts and noting guests and dormant accounts among them.
func (j *job) effective(ctx context.Context, emit func(Row) error) error {
	sp, err := newSpool(PrivilegedAccess)
	if err != nil {
		return err
	}
	j.privSpool = sp
	return diff.Effective(ctx, j.st, j.run.ID, func(g diff.Grant) error {
		gi := j.groups[g.Group]
		gname := g.Group
		if gi != nil {
			gname = gi.name
		}
		a := j.accounts[g.Subject]
		mname := g.Subject
		if a != nil {
			mname = a.name
		}
		path := g.PathText()
		if err := emit(Row{g.Group, gname, g.Subject, mname, g.SubjectKind, g.Direct, int64(len(g.Path)), path, strings.Join(g.Path, " > ")}); err != nil {
			return err
		}
		if gi == nil || !gi.privileged {
			return nil
		}
		j.privMembers[g.Group]++
		j.privAccounts[g.Subject] = true
		row := Row{g.Group, gname, gi.display, gi.project, g.Subject, mname, "", g.SubjectKind, "", "", "", nil, false, g.Direct, path}
		if a != nil {
			row[6], row[8], row[9], row[10], row[11], row[12] = a.principal, a.metaType, a.license, a.status, a.last, a.dormant
			j.privilegedFindings(g, gi, a, path)
		}
		return j.privSpool.Write(row)
	})
}

// privileged streams the privileged access spooled by effective.
func (j *job) privileged(emit func(Row) error) error {
	if j.privSpool == nil {
		return nil
	}
	sp := j.privSpool
	j.privSpool = nil
	return sp.Replay(emit)
}
