package collect

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// tokenLines are the personal_access_tokens rows of the store, every
// version, as lines (so a row closed by a run shows).
func tokenLines(t *testing.T, st *snapshot.Store) []string {
	t.Helper()
	rows, err := st.DB().Query(`SELECT owner || '|' || authorization_id || '|' || kind || '|' || valid_from || '|' || coalesce(valid_to, '') || '|' || hash
		FROM personal_access_tokens ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var l string
		rows.Scan(&l)
		out = append(out, l)
	}
	return out
}

// A full sync stores SSH keys beside tokens (kind 'ssh'), never their
// public key; with --token-sweep 168h a full sync within the week makes no
// Token Admin request and leaves the table exactly as it was (nothing
// closed); an SSH key and a token created meanwhile are seen by an
// incremental run through their Token entries; past the week a full sync
// sweeps again.
func TestTokenSweepCadence(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Spec: &propertySpec, Seed: 5})
	c := dial(t, sim, "readwrite")
	st := openStore(t)
	ctx := context.Background()
	opts := func(mode string) SyncOptions {
		return SyncOptions{Mode: mode, Pipelines: false, Tokens: true, TokenSweep: DefaultTokenSweep}
	}
	sync := func(mode string) snapshot.Run {
		t.Helper()
		run, err := Sync(ctx, c, st, opts(mode))
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	first := sync("full")
	want := sim.PipelineCounts()
	if got := countRows(t, st, snapshot.PersonalAccessTokens, nil); got != want.Tokens {
		t.Fatalf("%d token rows, the organization holds %d tokens and SSH keys", got, want.Tokens)
	}
	if got := countRows(t, st, snapshot.PersonalAccessTokens, func(r snapshot.Row) bool { return r[2] == TokenKindSSH }); got != want.SSHKeys || got == 0 {
		t.Fatalf("%d SSH key rows, the organization holds %d", got, want.SSHKeys)
	}
	users := int64(countRows(t, st, snapshot.Accounts, func(r snapshot.Row) bool {
		ty := strings.ToLower(r[2].(string))
		return ty == "aad" || ty == "msa"
	}))
	if got := first.RequestsByArea["tokenadmin"]; got < 2*users {
		t.Errorf("a sweep made %d Token Admin requests for %d users, want two per user (tokens, SSH keys)", got, users)
	}
	if !strings.Contains(first.Note, "tokens swept") {
		t.Errorf("first full sync's note: %q", first.Note)
	}
	// The note counts the sweep's requests as the run counts them.
	if want := fmt.Sprintf("(%d Token Admin requests", first.RequestsByArea["tokenadmin"]); !strings.Contains(first.Note, want) {
		t.Errorf("first full sync's note %q does not say %s", first.Note, want)
	}
	for _, p := range sim.PATs() {
		if p.SSH {
			var n int
			st.DB().QueryRow(`SELECT count(*) FROM personal_access_tokens WHERE display_name LIKE ? OR scope LIKE ?`, "%"+p.PublicKey+"%", "%"+p.PublicKey+"%").Scan(&n)
			if n != 0 {
				t.Fatal("an SSH key's public key is in the store")
			}
		}
	}

	// Within the cadence: carried forward, not a request, nothing closed.
	before := tokenLines(t, st)
	sim.Advance(time.Hour)
	within := sync("full")
	if n := within.RequestsByArea["tokenadmin"]; n != 0 {
		t.Fatalf("a full sync within the cadence made %d Token Admin requests", n)
	}
	if after := tokenLines(t, st); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Fatalf("a full sync within the cadence changed the token table:\nbefore %d rows\nafter %d rows", len(before), len(after))
	}
	if !strings.Contains(within.Note, "tokens not swept (--token-sweep 168h0m0s): carried forward from the sweep of run 1 at ") {
		t.Fatalf("note %q", within.Note)
	}

	// Created meanwhile, seen by the incremental run through the Audit Log.
	res, err := sim.Mutate(adosim.MutateRequest{Count: 1, Seed: 9, Kinds: []string{"ssh.create"}})
	if err != nil || len(res.Applied) != 1 {
		t.Fatal(err, res)
	}
	key := res.Applied[0].Target
	if _, err := sim.Mutate(adosim.MutateRequest{Count: 1, Seed: 9, Kinds: []string{"pat.create"}}); err != nil {
		t.Fatal(err)
	}
	inc := sync("incremental")
	if n := countRows(t, st, snapshot.PersonalAccessTokens, func(r snapshot.Row) bool { return r[1] == key && r[2] == TokenKindSSH }); n != 1 {
		t.Fatalf("the SSH key created is not in the store after the incremental run (note %q)", inc.Note)
	}
	if got := countRows(t, st, snapshot.PersonalAccessTokens, nil); got != sim.PipelineCounts().Tokens {
		t.Fatalf("after the incremental run: %d rows, the organization holds %d", got, sim.PipelineCounts().Tokens)
	}
	if n := inc.RequestsByArea["tokenadmin"]; n == 0 || n > 4 {
		t.Errorf("the incremental run made %d Token Admin requests for two owners", n)
	}

	// Past the cadence: swept again.
	sim.Advance(DefaultTokenSweep)
	past := sync("full")
	if n := past.RequestsByArea["tokenadmin"]; n < 2*users {
		t.Fatalf("a full sync past the cadence made %d Token Admin requests", n)
	}
	var runs int
	st.DB().QueryRow(`SELECT count(*) FROM token_sweeps`).Scan(&runs)
	if runs != 2 {
		t.Errorf("%d token sweeps recorded, want 2 (the first full sync and the one past the cadence)", runs)
	}

	// off: never swept by a full sync.
	o := opts("full")
	o.TokenSweep = TokenSweepOff
	off, err := Sync(ctx, c, st, o)
	if err != nil {
		t.Fatal(err)
	}
	if off.RequestsByArea["tokenadmin"] != 0 || !strings.Contains(off.Note, "tokens not swept (--token-sweep off)") {
		t.Fatalf("--token-sweep off: %d requests, note %q", off.RequestsByArea["tokenadmin"], off.Note)
	}
}

// An SSH key revoked through Token Admin (isPublic=true) is seen revoked
// by the next incremental run, through its Token.SshRevokeEvent entry.
func TestSSHKeyRevokedSeenByIncremental(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Spec: &propertySpec, Seed: 6})
	c := dial(t, sim, "readwrite")
	st := openStore(t)
	syncMode(t, c, st, "full")
	var owner, id string
	st.Current(context.Background(), snapshot.PersonalAccessTokens, func(r snapshot.Row) error {
		if r[2] == TokenKindSSH {
			owner, id = r[0].(string), r[1].(string)
		}
		return nil
	})
	if id == "" {
		t.Fatal("no SSH key in the store")
	}
	if has, err := c.HasPAT(context.Background(), owner, id, true); err != nil || !has {
		t.Fatalf("HasPAT(ssh) = %v, %v", has, err)
	}
	if _, err := c.RevokePAT(context.Background(), id, true); err != nil {
		t.Fatal(err)
	}
	inc := syncMode(t, c, st, "incremental")
	if n := countRows(t, st, snapshot.PersonalAccessTokens, func(r snapshot.Row) bool { return r[1] == id }); n != 0 {
		t.Fatalf("SSH key %s still current after revocation (note %q)", id, inc.Note)
	}
}
