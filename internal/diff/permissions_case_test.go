package diff

import (
	"strings"
	"testing"

	"github.com/ado-access/ado-access/internal/adosim"
)

// The service compares identity descriptors without regard to case: an
// entry naming a known identity in other letter case is that identity's,
// not an unknown one's.
func TestPermissionsMatchIdentityDescriptorsIgnoringCase(t *testing.T) {
	t.Parallel()
	w := newPermWorld(t)
	u := w.users[5]
	repo := RepoToken(w.project, w.repo)
	lower := strings.ToLower(w.legacy(u))
	if lower == w.legacy(u) {
		t.Fatalf("the legacy descriptor %s has no upper case to change", lower)
	}
	w.set(nsGit, repo, lower, gitForcePush, 0)
	run := w.sync()
	if p, ok := w.effective(run, u, repo)[repo+" ForcePush"]; !ok || p.Deny || p.Identity.Descriptor != u {
		t.Errorf("entry for %s: %+v, want ForcePush allowed to %s", lower, p, u)
	}
	var found bool
	err := Permissions(w.ctx, w.st, run, func(a ACE) error {
		if strings.EqualFold(a.Subject.Identity, lower) && a.Token == repo {
			found = true
			if !a.Subject.Known || a.Subject.Descriptor != u {
				t.Errorf("the entry's identity %s resolved to %+v, want %s", a.Subject.Identity, a.Subject, u)
			}
		}
		return nil
	})
	if err != nil || !found {
		t.Fatalf("entry not listed (%v)", err)
	}
}

// A token written with a trailing separator names the same object as
// without it (see Namespace.key): an entry on repoV2/{p}/{r}/ is the
// repository's own, and reaches its branches.
func TestPermissionsTokenWithTrailingSeparatorIsTheSameObject(t *testing.T) {
	t.Parallel()
	w := newPermWorld(t)
	u := w.users[6]
	repo := RepoToken(w.project, w.repo)
	w.set(nsGit, repo+"/", w.legacy(u), gitPolicyExempt, 0)
	run := w.sync()
	branch := adosim.BranchToken(repo, w.branch)
	got := w.effective(run, u, repo, branch)
	for _, tok := range []string{repo, branch} {
		if p, ok := got[tok+" PolicyExempt"]; !ok || p.Deny {
			t.Errorf("%s: PolicyExempt %+v, want allowed through the entry on %s/", tok, p, repo)
		}
	}
}
