package diff

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// activity is what dormancy is judged on at one run: whether the account
// had an entitlement, its last access and the entitlement's creation
// ("" when unknown or never).
type activity struct {
	entitled      bool
	last, created string
}

// dormantAt reports whether the account was dormant at t (see IsDormant).
func (x activity) dormantAt(t time.Time, days int) bool {
	return IsDormant(x.entitled, parseTime(x.last), parseTime(x.created), t, days)
}

// parseTime reads a time the store wrote; "" or anything else is zero.
func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// IsDormant reports whether an account had no access for days before t:
// it has an access level, and its last access (or, if it never signed
// in, the access level's creation) is at least days old. Zero times are
// unknown, and unknown is not dormant; negative days turn dormancy off.
func IsDormant(entitled bool, last, created, t time.Time, days int) bool {
	at := last
	if at.IsZero() {
		at = created
	}
	if !entitled || at.IsZero() || days < 0 {
		return false
	}
	return !at.After(t.AddDate(0, 0, -days))
}

// becameDormant is the dormant change of one account, if it is dormant at
// the newer time and was not at the older.
func becameDormant(key string, before, after activity, tA, tB time.Time, days int) (Change, bool) {
	if !after.dormantAt(tB, days) || before.dormantAt(tA, days) {
		return Change{}, false
	}
	if !before.entitled { // nothing to show from before
		before = activity{}
	}
	c := Change{Kind: Dormant, Entity: EntAccounts, Key: key,
		Fields: []Field{{Name: "last_accessed", Before: before.last, After: after.last}}}
	if after.last == "" {
		c.Fields = append(c.Fields, Field{Name: "date_created", Before: before.created, After: after.created})
	}
	return c, true
}

// dormant finds the accounts that became dormant between the runs. The
// store keeps only the latest last access, so both runs are judged on it:
// see the package documentation for when that is exact.
func (d *runDiff) dormant(ctx context.Context) ([]Change, error) {
	days := d.opts.dormantDays()
	tA, tB := snapshotTime(d.a), snapshotTime(d.b)
	second := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05") }
	args := []any{sql.Named("from", d.a.ID), sql.Named("to", d.b.ID),
		sql.Named("cutoff_from", second(tA.AddDate(0, 0, -days))), sql.Named("cutoff_to", second(tB.AddDate(0, 0, -days)))}
	rows, err := d.st.DB().QueryContext(ctx, snapshot.Query("diff_dormant"), args...)
	if err != nil {
		return nil, fmt.Errorf("find dormant accounts: %w", err)
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var desc, last, created, createdBefore string
		var had bool
		if err := rows.Scan(&desc, &last, &created, &had, &createdBefore); err != nil {
			return nil, fmt.Errorf("find dormant accounts: %w", err)
		}
		last = normalize(Time, last)
		before := activity{entitled: had, last: last, created: normalize(Time, createdBefore)}
		after := activity{entitled: true, last: last, created: normalize(Time, created)}
		if c, ok := becameDormant(desc, before, after, tA, tB, days); ok {
			out = append(out, c)
		}
	}
	return out, rows.Err()
}
