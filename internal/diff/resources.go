package diff

import (
	"context"
	"database/sql"
	"encoding/hex"
	"slices"
	"strings"
	"unicode/utf16"
)

// Resource is what a token secures, for people: an organization, a
// project, a repository, a branch, a project's pipelines or groups.
type Resource struct {
	Kind       string // organization, project, repository, branch, ref, pipelines, group, other
	Project    string // project name ("" at organization level)
	Repository string
	Branch     string // refs/heads/…
	Name       string // one line: "Atlas", "Atlas/payments", "Atlas/payments refs/heads/main"
}

// Well-known namespace ids (see internal/collect's DefaultNamespaces).
const (
	nsProject  = "52d39943-cb85-4d7f-8fa8-c6baac873819"
	nsGit      = "2e9eb7ed-3c0a-47d4-87c1-0ffdd275fd87"
	nsBuild    = "33344d9c-fc72-4d6f-aba5-fa317101a7e9"
	nsRelease  = "c788c23e-1b46-4162-8f5e-d7585343b5de"
	nsIdentity = "5a27515b-ccd7-42c9-84f1-54c998f03866"

	projectTokenPrefix = "$PROJECT:vstfs:///Classification/TeamProject/"
)

// resources names projects and repositories, and lists the tokens every
// project and repository has whether or not an ACL sits on them.
type resources struct {
	projects map[string]string    // id (lower) → name
	repos    map[string][2]string // id (lower) → project id, name
}

func loadResources(ctx context.Context, db *sql.DB, run int64) (*resources, error) {
	r := &resources{projects: map[string]string{}, repos: map[string][2]string{}}
	at := []any{sql.Named("run", run)}
	err := queryEach(ctx, db, "perm_projects_at", at, func(v []any) { r.projects[strings.ToLower(v[0].(string))] = v[1].(string) })
	if err == nil {
		err = queryEach(ctx, db, "perm_repositories_at", at, func(v []any) {
			r.repos[strings.ToLower(v[0].(string))] = [2]string{strings.ToLower(v[1].(string)), v[2].(string)}
		})
	}
	return r, err
}

// RepoToken is the Git Repositories token of a repository.
func RepoToken(projectID, repoID string) string {
	return "repoV2/" + strings.ToLower(projectID) + "/" + strings.ToLower(repoID)
}

// ProjectTokens are the tokens of a project in the namespaces whose tokens
// are known (Project, Git Repositories, Build, ReleaseManagement, Identity).
func ProjectTokens(ns, projectID string) []string {
	p := strings.ToLower(projectID)
	switch ns {
	case nsProject:
		return []string{projectTokenPrefix + p}
	case nsGit:
		return []string{"repoV2/" + p}
	case nsBuild, nsRelease, nsIdentity:
		return []string{p}
	}
	return nil
}

// defaultTokens are the tokens of a namespace that stand for every project
// and repository, ACL or not: a repository with no ACL of its own has
// permissions all the same, inherited.
func (r *resources) defaultTokens(ns *Namespace) []string {
	var out []string
	for p := range r.projects {
		out = append(out, ProjectTokens(ns.ID, p)...)
	}
	if ns.ID == nsGit {
		for id, rp := range r.repos {
			out = append(out, RepoToken(rp[0], id))
		}
	}
	return out
}

// of describes a token of a namespace.
func (r *resources) of(ns *Namespace, token string) Resource {
	project := func(id string) string {
		if n, ok := r.projects[strings.ToLower(id)]; ok {
			return n
		}
		return id
	}
	switch ns.ID {
	case nsGit:
		parts := strings.Split(token, "/")
		switch {
		case len(parts) == 1:
			return Resource{Kind: "organization", Name: "all repositories"}
		case len(parts) == 2:
			p := project(parts[1])
			return Resource{Kind: "project", Project: p, Name: p + " (all repositories)"}
		}
		p := project(parts[1])
		repo := parts[2]
		if rp, ok := r.repos[strings.ToLower(repo)]; ok {
			repo = rp[1]
		}
		res := Resource{Kind: "repository", Project: p, Repository: repo, Name: p + "/" + repo}
		if len(parts) > 3 {
			ref := decodeRef(parts[3:])
			res.Kind, res.Branch, res.Name = "ref", ref, res.Name+" "+ref
			if strings.HasPrefix(ref, "refs/heads/") {
				res.Kind = "branch"
			}
		}
		return res
	case nsProject:
		if id, ok := strings.CutPrefix(token, projectTokenPrefix); ok {
			p := project(id)
			return Resource{Kind: "project", Project: p, Name: p}
		}
		return Resource{Kind: "organization", Name: "all projects"}
	case nsBuild, nsRelease, nsIdentity:
		sep := "/"
		kind := "pipelines"
		if ns.ID == nsIdentity {
			sep, kind = `\`, "group"
		}
		id, rest, more := strings.Cut(token, sep)
		p := project(id)
		if !more {
			what := " (pipelines)"
			if ns.ID == nsIdentity {
				what = " (groups)"
			}
			return Resource{Kind: "project", Project: p, Name: p + what}
		}
		return Resource{Kind: kind, Project: p, Name: p + " " + rest}
	}
	return Resource{Kind: "other", Name: token}
}

// decodeRef turns the segments of a ref token back into the ref: each is
// the hex of a UTF-16LE name ("6d00610069006e00" is "main").
func decodeRef(segs []string) string {
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = s
		b, err := hex.DecodeString(s)
		if err != nil || len(b)%2 != 0 || (i < 2 && (s == "refs" || s == "heads" || s == "tags")) {
			continue
		}
		u := make([]uint16, len(b)/2)
		for j := range u {
			u[j] = uint16(b[2*j]) | uint16(b[2*j+1])<<8
		}
		out[i] = string(utf16.Decode(u))
	}
	return strings.Join(out, "/")
}

// tokens lists the tokens of a namespace to evaluate: those with an ACL
// and every project's and repository's, sorted, once each.
func (s *permState) tokens(ns *Namespace) []string {
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		if k := strings.ToLower(t); !seen[k] {
			seen[k] = true
			out = append(out, t)
		}
	}
	for _, a := range s.acls[ns] {
		add(a.token)
	}
	for _, t := range s.res.defaultTokens(ns) {
		add(t)
	}
	slices.Sort(out)
	return out
}
