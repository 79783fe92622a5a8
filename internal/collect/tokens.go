package collect

import (
	"context"
	"strings"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/tokenadmin"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// Personal access tokens and SSH keys, through the Token Admin API: one
// listing per user and kind (the API has no organization-wide list, and
// isPublic is a boolean: false lists tokens, true SSH keys, so a user's
// tokens and keys are two requests), with display name, scopes, validity
// and target organizations; never the token, which the service does not
// answer either, nor an SSH key's public key (publicData). Reading needs
// Token Administration, vso.tokenadministration (the service has no
// read-only scope for it); without it the run says so and leaves the table
// as it was.
//
// A full sync reads every user's (a sweep) only as often as
// SyncOptions.TokenSweep asks; in between it carries the rows forward as
// they are (the Audit Log's Token entries, which incremental runs follow,
// keep them: token_sweep.go).

type tokenadminClient = tokenadmin.Client

func (p *pipeClients) setTokens(x *azuredevops.Client) {
	p.tokens = &tokenadmin.ClientImpl{Client: *x}
}

// tokenPage is the most tokens one page answers.
const tokenPage = 100

const kindTokens = "personal access tokens"

// Kinds of rows in personal_access_tokens.
const (
	TokenKindPAT = "pat"
	TokenKindSSH = "ssh"
)

// patRows lists one user's tokens, or with ssh their SSH keys; a user the
// service no longer knows (404) has none.
func (r *pipeRun) patRows(ctx context.Context, owner string, ssh bool) ([]snapshot.Row, error) {
	var rows []snapshot.Row
	size := tokenPage
	var cont *string
	kind := TokenKindPAT
	if ssh {
		kind = TokenKindSSH
	}
	for range 10_000 { // a limit: no user holds a million tokens
		page, err := r.e.c.pipes.tokens.ListPersonalAccessTokens(ctx, tokenadmin.ListPersonalAccessTokensArgs{
			SubjectDescriptor: &owner, PageSize: &size, ContinuationToken: cont, IsPublic: &ssh})
		if err != nil {
			if notFound(err) {
				return nil, nil
			}
			return nil, err
		}
		for _, t := range deref2(page.Value) {
			if t.AuthorizationId == nil {
				continue
			}
			var from, to string
			if t.ValidFrom != nil {
				from = formatDate(t.ValidFrom.Time)
			}
			if t.ValidTo != nil {
				to = formatDate(t.ValidTo.Time)
			}
			global := t.TargetAccounts == nil || len(*t.TargetAccounts) == 0
			rows = append(rows, snapshot.Row{owner, t.AuthorizationId.String(), kind, str(t.DisplayName), str(t.Scope), from, to, boolInt(global)})
		}
		if page.ContinuationToken == nil {
			return rows, nil
		}
		s := page.ContinuationToken.String()
		cont = &s
	}
	return rows, nil
}

// readOwnersTokens re-reads the tokens and SSH keys of some users and
// replaces what the store holds of them. A credential that may not read
// them is noted (the run goes on).
func (r *pipeRun) readOwnersTokens(ctx context.Context, owners []string) error {
	if len(owners) == 0 || r.isDenied(kindTokens) {
		return nil
	}
	return forEach(ctx, r.e.c.conc, owners, func(ctx context.Context, owner string) error {
		var rows []snapshot.Row
		for _, ssh := range []bool{false, true} {
			if r.isDenied(kindTokens) {
				return nil
			}
			got, err := r.patRows(ctx, owner, ssh)
			if err != nil {
				what := "list the personal access tokens of " + owner
				if ssh {
					what = "list the SSH keys of " + owner
				}
				denied, err := r.forbidden(kindTokens, what, "tokenadmin", err)
				if denied {
					return nil
				}
				return err
			}
			rows = append(rows, got...)
		}
		return r.e.out.do(ctx, func(w *snapshot.Writer) error {
			r.e.out.prog.add(kindTokens, len(rows))
			return w.ReplaceScope(snapshot.PersonalAccessTokens, []any{owner}, rows)
		})
	})
}

// readTokens is the full read's step: every user's tokens and SSH keys
// when a sweep is due (token_sweep.go), the rows carried forward when not;
// either way the tokens of owners no longer among the users are closed
// (the service no longer lists them, which costs no request to know).
func readTokens(ctx context.Context, e *env) error {
	r := newPipeRun(e)
	users, err := e.accountsNow(ctx, func(row snapshot.Row) bool {
		t := strings.ToLower(row[2].(string))
		return t == "aad" || t == "msa"
	})
	if err != nil {
		return err
	}
	sw, err := startTokenSweep(ctx, e)
	if err != nil {
		return err
	}
	if sw.due {
		if err := r.readOwnersTokens(ctx, users); err != nil {
			return err
		}
		if r.isDenied(kindTokens) {
			return nil
		}
	}
	keep := map[string]bool{}
	for _, u := range users {
		keep[u] = true
	}
	return e.out.do(ctx, func(w *snapshot.Writer) error {
		stale := map[string]bool{}
		if err := w.Current(snapshot.PersonalAccessTokens, func(row snapshot.Row) error {
			if o := row[0].(string); !keep[o] {
				stale[o] = true
			}
			return nil
		}); err != nil {
			return err
		}
		for o := range stale {
			if err := w.DeleteScope(snapshot.PersonalAccessTokens, o); err != nil {
				return err
			}
		}
		return sw.finish(w, e, len(users))
	})
}

// accountsNow returns the descriptors of the current accounts that keep
// accepts, as the run's writer sees them (this run's writes included). The
// writer runs ops in order, so the answer comes after every earlier put.
func (e *env) accountsNow(ctx context.Context, keep func(snapshot.Row) bool) ([]string, error) {
	done := make(chan []string, 1)
	errc := make(chan error, 1)
	if err := e.out.do(ctx, func(w *snapshot.Writer) error {
		var out []string
		err := w.Current(snapshot.Accounts, func(row snapshot.Row) error {
			if keep(row) {
				out = append(out, row[0].(string))
			}
			return nil
		})
		if err != nil {
			errc <- err
			return err
		}
		done <- out
		return nil
	}); err != nil {
		return nil, err
	}
	select {
	case out := <-done:
		return out, nil
	case err := <-errc:
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
