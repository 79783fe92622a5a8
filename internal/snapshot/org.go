package snapshot

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Organization is the organization a store belongs to.
type Organization struct {
	ID   string `json:"id"`   // the service's instance id
	Name string `json:"name"` // for people
	URL  string `json:"url"`  // of the latest sync
	// Gone is when a sync of every organization last found this one
	// missing (deleted, or the credential lost access); nil while it is
	// there. GoneReason says how it was missed.
	Gone       *time.Time `json:"gone_at,omitempty"`
	GoneReason string     `json:"gone_reason,omitempty"`
}

// NormalizeOrg is the form organization URLs are stored in: lower case,
// no trailing slash (as the Azure DevOps client normalizes them), and never
// with user info: a credential in a URL must not reach the store.
func NormalizeOrg(org string) string {
	org = strings.ToLower(strings.TrimRight(strings.TrimSpace(org), "/"))
	if u, err := url.Parse(org); err == nil && u.User != nil {
		u.User = nil
		org = u.String()
	}
	return org
}

// OrgName is the organization's name in its URL: the last path segment
// (https://dev.azure.com/{org}, or a collection on a server), or the host's
// first label for https://{org}.visualstudio.com.
func OrgName(org string) string {
	u, err := url.Parse(NormalizeOrg(org))
	if err != nil {
		return org
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		return p[strings.LastIndex(p, "/")+1:]
	}
	host, _, _ := strings.Cut(u.Hostname(), ".")
	return host
}

// Organization reads the organization the store belongs to; ok is false
// while no sync has bound one.
func (s *Store) Organization(ctx context.Context) (org Organization, ok bool, err error) {
	var gone sql.NullString
	err = s.db.QueryRowContext(ctx, `SELECT id, name, url, gone_at, gone_reason FROM organization WHERE only_one = 1`).Scan(&org.ID, &org.Name, &org.URL, &gone, &org.GoneReason)
	org.Gone = optTime(gone)
	if errors.Is(err, sql.ErrNoRows) {
		return org, false, nil
	}
	if err != nil {
		return org, false, fmt.Errorf("read the store's organization: %w", explain(s.path, err))
	}
	return org, true, nil
}

// Bind records that the store belongs to org, or checks that it does: a
// store holds one organization, known by its id, so a sync of another one
// is refused before it writes anything. The same organization reached by a
// new URL keeps its store (and the new URL is recorded). Call it holding
// the writer lock.
func (s *Store) Bind(ctx context.Context, org Organization) error {
	org.URL = NormalizeOrg(org.URL)
	if org.ID == "" {
		return fmt.Errorf("bind the store to %s: the service did not say the organization's id", org.URL)
	}
	have, ok, err := s.Organization(ctx)
	if err != nil {
		return err
	}
	if ok {
		if !strings.EqualFold(have.ID, org.ID) {
			return fmt.Errorf("%w: %s holds organization %s (id %s, last synced from %s), and %s is another organization (id %s). A store holds one organization: sync this one into another store (--db)",
				ErrOtherOrg, s.path, have.Name, have.ID, have.URL, org.URL, org.ID)
		}
		if have.URL == org.URL && have.Name == org.Name && have.Gone == nil {
			return nil
		}
		// A sync that reaches it again clears a "gone" mark.
		_, err := s.db.ExecContext(ctx, `UPDATE organization SET url = ?, name = ?, gone_at = NULL, gone_reason = '' WHERE only_one = 1`, org.URL, org.Name)
		return explain(s.path, err)
	}
	// Stores written before organizations were recorded: their runs name
	// the organization by URL only, which proves nothing about another URL.
	urls, err := s.runURLs(ctx)
	if err != nil {
		return err
	}
	switch {
	case len(urls) > 1:
		return fmt.Errorf("%w: %s holds runs of several organizations (%s) from before stores were bound to one, so its snapshots may mix them; start a new store (--db) for each organization",
			ErrOtherOrg, s.path, strings.Join(urls, ", "))
	case len(urls) == 1 && urls[0] != org.URL:
		return fmt.Errorf("%w: %s holds runs of %s from before stores recorded their organization's id, so it cannot tell whether %s is the same organization. If it is, sync once more with --org %s (which records the id); if not, use another store (--db)",
			ErrOtherOrg, s.path, urls[0], org.URL, urls[0])
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO organization (only_one, id, name, url, bound_at) VALUES (1, ?, ?, ?, ?)`,
		org.ID, org.Name, org.URL, formatTime(time.Now()))
	return explain(s.path, err)
}

// MarkGone records that the store's organization was not found where a
// sync of every organization looked for it (deleted, or access lost); the
// first time only, so the date says since when. History stays.
func (s *Store) MarkGone(ctx context.Context, reason string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE organization SET gone_at = ?, gone_reason = ? WHERE only_one = 1 AND gone_at IS NULL`,
		formatTime(time.Now()), reason)
	return explain(s.path, err)
}

// runURLs lists the organization URLs the store's runs were made with.
func (s *Store) runURLs(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT org FROM runs ORDER BY org`)
	if err != nil {
		return nil, fmt.Errorf("read the store's runs: %w", explain(s.path, err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// CheckOrg checks that the store holds the organization a reading command
// was pointed at (a URL, from --org or ADO_ORG_URL, or a name), by URL or
// by name. "" always matches. The error says which organization the store does hold.
func (s *Store) CheckOrg(ctx context.Context, want string) error {
	if strings.TrimSpace(want) == "" {
		return nil
	}
	w := NormalizeOrg(want)
	org, ok, err := s.Organization(ctx)
	if err != nil {
		return err
	}
	urls, err := s.runURLs(ctx)
	if err != nil {
		return err
	}
	if ok {
		urls = append(urls, org.URL)
	}
	var names []string
	for _, u := range urls {
		// The name is enough: offline, a store cannot tell the same
		// organization behind a new URL (a simulator on another port)
		// from another one, and this check guards against mistakes.
		if u == w || strings.EqualFold(OrgName(u), OrgName(w)) {
			return nil
		}
		names = append(names, u)
	}
	if len(names) == 0 {
		return fmt.Errorf("%w: %s holds no organization yet (no sync has run), not %s", ErrNoRun, s.path, want)
	}
	holds := names[len(names)-1]
	if ok {
		holds = fmt.Sprintf("%s (%s)", org.Name, org.URL)
	}
	return fmt.Errorf("%w: %s holds organization %s, not %s (from --org or ADO_ORG_URL); name that store's organization, or another store with --db",
		ErrOtherOrg, s.path, holds, NormalizeOrg(want))
}
