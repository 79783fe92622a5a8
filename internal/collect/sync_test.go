package collect

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/snapshot"
)

var genTime = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// pagingSpec is an organization big enough that every list turns pages
// (Graph pages 500 subjects, entitlements 100, teams 100) yet quick to sync
// under the race detector.
var pagingSpec = adosim.Spec{
	Users: 1100, GuestShare: 0.1, MSAShare: 0.05, ServicePrincipals: 12, OrgGroups: 20,
	EntraGroups: 15, EntraGroupSize: 40, Projects: 40, MaxExtraTeams: 3, MaxRepos: 3,
	MembershipsPerUser: 5, NestingDepth: 3, GroupRules: 3, DormantShare: 0.1, NeverShare: 0.05, AuditHistory: 50,
}

func startSim(t testing.TB, opts adosim.Options) *adosim.Server {
	t.Helper()
	if opts.GeneratedAt.IsZero() {
		opts.GeneratedAt = genTime
	}
	s, err := adosim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openStore(t testing.TB) *snapshot.Store {
	t.Helper()
	st, err := snapshot.Open(context.Background(), filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func dial(t testing.TB, sim *adosim.Server, cred string) *Client {
	t.Helper()
	c, err := Dial(context.Background(), sim.URL(), Credential{PAT: sim.Credential(cred)},
		Options{Retry: RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func syncOnce(t testing.TB, c *Client, st *snapshot.Store) snapshot.Run {
	t.Helper()
	run, err := Sync(context.Background(), c, st, SyncOptions{Teams: true, Progress: NewProgress()})
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// digest is a store's snapshot at a run, table by table, as sorted lines.
func digest(t testing.TB, st *snapshot.Store, run int64) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, tbl := range snapshot.Tables {
		var lines []string
		err := st.Scan(context.Background(), tbl, run, func(r snapshot.Row) error {
			lines = append(lines, fmt.Sprint(r...))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(lines)
		out[tbl.Name] = lines
	}
	return out
}

// countKinds tallies a snapshot the way /_sim/stats counts the simulator.
func countKinds(t testing.TB, st *snapshot.Store, run int64) adosim.Counts {
	t.Helper()
	var c adosim.Counts
	ctx := context.Background()
	st.Scan(ctx, snapshot.Accounts, run, func(r snapshot.Row) error {
		switch r[1] {
		case "user":
			c.Users++
		case "service_account":
			c.ServiceAccounts++
		case "service_principal":
			c.ServicePrincipals++
		}
		return nil
	})
	count := func(tbl *snapshot.Table, n *int, keep func(snapshot.Row) bool) {
		st.Scan(ctx, tbl, run, func(r snapshot.Row) error {
			if keep == nil || keep(r) {
				*n++
			}
			return nil
		})
	}
	count(snapshot.Groups, &c.Groups, nil)
	count(snapshot.Memberships, &c.Memberships, nil)
	count(snapshot.Projects, &c.Projects, nil)
	count(snapshot.Teams, &c.Teams, nil)
	count(snapshot.TeamMembers, &c.TeamMembers, nil)
	count(snapshot.Repositories, &c.Repositories, nil)
	count(snapshot.GroupRules, &c.GroupRules, nil)
	count(snapshot.Entitlements, &c.Entitlements, func(r snapshot.Row) bool { return !strings.HasPrefix(r[0].(string), "aadsp.") })
	return c
}

// changedRows counts the row versions a run must have written to turn the
// snapshot before into the one after: one per added or removed row, two
// (close and add) per changed row.
func changedRows(before, after map[string][]string) int64 {
	var n int64
	for tbl, b := range before {
		a := after[tbl]
		keyOf := func(line string) string { // key columns come first
			k := strings.Fields(line)
			cols := len(snapshot.TableByName(tbl).Key)
			return strings.Join(k[:min(cols, len(k))], " ")
		}
		bm, am := map[string]string{}, map[string]string{}
		for _, l := range b {
			bm[keyOf(l)] = l
		}
		for _, l := range a {
			am[keyOf(l)] = l
		}
		for k, l := range bm {
			switch al, ok := am[k]; {
			case !ok:
				n++
			case al != l:
				n += 2
			}
		}
		for k := range am {
			if _, ok := bm[k]; !ok {
				n++
			}
		}
	}
	return n
}

func TestFullSyncMatchesTheSimulator(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Spec: &pagingSpec, Seed: 7})
	st := openStore(t)
	c := dial(t, sim, "readonly")

	r1 := syncOnce(t, c, st)
	if got, want := countKinds(t, st, r1.ID), sim.Stats().Counts; !sameCounts(got, want) {
		t.Fatalf("snapshot counts differ from the simulator:\n got %+v\nwant %+v", got, want)
	}
	if r1.APIRequests == 0 || r1.RequestsByArea["graph"] == 0 || r1.RequestsByArea["identity"] == 0 {
		t.Fatalf("requests not recorded: %d %v", r1.APIRequests, r1.RequestsByArea)
	}

	// Nothing changed: nothing written.
	r2 := syncOnce(t, c, st)
	if r2.VersionsWritten != 0 {
		t.Fatalf("unchanged second sync wrote %d versions", r2.VersionsWritten)
	}

	// After scripted changes, the sync writes exactly the rows that changed.
	if _, err := sim.Mutate(adosim.MutateRequest{Count: 150, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	before := digest(t, st, r2.ID)
	r3 := syncOnce(t, c, st)
	after := digest(t, st, r3.ID)
	if got, want := countKinds(t, st, r3.ID), sim.Stats().Counts; !sameCounts(got, want) {
		t.Fatalf("after mutations:\n got %+v\nwant %+v", got, want)
	}
	want := changedRows(before, after)
	if want == 0 || r3.VersionsWritten != want {
		t.Fatalf("sync after mutations wrote %d versions, the snapshots differ by %d", r3.VersionsWritten, want)
	}
	// The earlier snapshot is untouched by later runs.
	if !equalDigest(before, digest(t, st, r2.ID)) {
		t.Fatal("run 2's snapshot changed after run 3")
	}
}

func sameCounts(got, want adosim.Counts) bool {
	want.AuditEntries = 0 // the store does not copy the audit log
	got.AuditEntries = 0
	return got == want
}

func equalDigest(a, b map[string][]string) bool {
	for k := range a {
		if !slices.Equal(a[k], b[k]) {
			return false
		}
	}
	return len(a) == len(b)
}

// Under throttling, server errors, cut connections and expiring
// continuation tokens, a sync gets exactly what a fault-free sync gets.
func TestSyncUnderFaultsEqualsFaultFree(t *testing.T) {
	t.Parallel()
	opts := adosim.Options{Preset: "small", Seed: 11}
	clean := startSim(t, opts)
	opts.Faults = adosim.Faults{
		Rate429: 0.05, Burst429Every: 40, Burst429Len: 4, RetryAfter: adosim.Duration(time.Millisecond),
		Rate5xx: 0.05, RateCut: 0.05, RateExpireToken: 0.2,
	}
	faulty := startSim(t, opts)

	st1, st2 := openStore(t), openStore(t)
	p1, p2 := NewProgress(), NewProgress()
	r1, err1 := Sync(context.Background(), dial(t, clean, "readonly"), st1, SyncOptions{Teams: true, Progress: p1})
	r2, err2 := Sync(context.Background(), dial(t, faulty, "readonly"), st2, SyncOptions{Teams: true, Progress: p2})
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !equalDigest(digest(t, st1, r1.ID), digest(t, st2, r2.ID)) {
		t.Fatal("the snapshot read under faults differs from the fault-free one")
	}
	f := faulty.Stats().Faults
	if f["429"] == 0 || f["5xx"] == 0 || f["cut"] == 0 {
		t.Fatalf("faults not exercised: %v", f)
	}
	_, c1 := p1.Counts()
	_, c2 := p2.Counts()
	if !slices.Equal(c1, c2) || r1.RowsSeen != r2.RowsSeen {
		t.Fatalf("counts under faults %v (%d rows seen), fault-free %v (%d)", c2, r2.RowsSeen, c1, r1.RowsSeen)
	}
	if r2.Retries == 0 || r2.APIRequests <= r1.APIRequests {
		t.Fatalf("retries %d, requests %d vs %d fault-free", r2.Retries, r2.APIRequests, r1.APIRequests)
	}
}

// A listing that starts over after an expired continuation token counts
// its rows once, in the progress and in the run's rows_seen.
func TestRestartedListingsCountOnce(t *testing.T) {
	t.Parallel()
	// Enough users for the users listing to turn pages; little else.
	spec := adosim.Spec{Users: 1100, OrgGroups: 2, Projects: 1, MembershipsPerUser: 1, AuditHistory: 1}
	opts := adosim.Options{Spec: &spec, Seed: 10}
	clean := startSim(t, opts)
	// Only the users listing (one sequential chain of pages) draws faults,
	// so the seed decides the same expirations every time.
	opts.Faults = adosim.Faults{RateExpireToken: 0.5, Paths: []string{"/_apis/graph/users"}}
	faulty := startSim(t, opts)
	p1, p2 := NewProgress(), NewProgress()
	r1, err1 := Sync(context.Background(), dial(t, clean, "readonly"), openStore(t), SyncOptions{Progress: p1})
	r2, err2 := Sync(context.Background(), dial(t, faulty, "readonly"), openStore(t), SyncOptions{Progress: p2})
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if n := faulty.Stats().Faults["expired_token"]; n == 0 {
		t.Fatal("no continuation token expired: pick another seed")
	}
	_, c1 := p1.Counts()
	_, c2 := p2.Counts()
	if !slices.Equal(c1, c2) || r1.RowsSeen != r2.RowsSeen {
		t.Fatalf("counts after restarts %v (%d rows seen), without %v (%d)", c2, r2.RowsSeen, c1, r1.RowsSeen)
	}
	if r2.APIRequests <= r1.APIRequests {
		t.Fatalf("requests %d vs %d without restarts: the pages read again are not counted", r2.APIRequests, r1.APIRequests)
	}
}

func TestSyncOnPremDiscovery(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Preset: "small", OnPrem: true})
	st := openStore(t)
	r := syncOnce(t, dial(t, sim, "readonly"), st)
	if got, want := countKinds(t, st, r.ID), sim.Stats().Counts; !sameCounts(got, want) {
		t.Fatalf("on-prem sync:\n got %+v\nwant %+v", got, want)
	}
}

func TestSyncWithBearerToken(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Preset: "small"})
	st := openStore(t)
	c, err := Dial(context.Background(), sim.URL(), Credential{Tokens: StaticToken(sim.Credential("bearer"))}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Sync(context.Background(), c, st, SyncOptions{Teams: true}); err != nil {
		t.Fatal(err)
	}
}

func TestSyncAuthErrorsSayWhatToFix(t *testing.T) {
	t.Parallel()
	// A PAT the organization does not know.
	sim := startSim(t, adosim.Options{Preset: "small"})
	_, err := Dial(context.Background(), sim.URL(), Credential{PAT: "not-a-real-pat"}, Options{})
	if !errors.Is(err, ErrUnauthorized) || strings.Contains(err.Error(), "not-a-real-pat") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %q; want one line, ErrUnauthorized, no secret", err)
	}

	// A PAT without the Identity scope.
	var creds []adosim.Credential
	for _, c := range adosim.DefaultCredentials() {
		if c.Name == "readonly" {
			c.Scopes = slices.DeleteFunc(slices.Clone(c.Scopes), func(s string) bool { return s == "vso.identity" })
		}
		creds = append(creds, c)
	}
	sim2 := startSim(t, adosim.Options{Preset: "small", Credentials: creds})
	st := openStore(t)
	_, err = Sync(context.Background(), dial(t, sim2, "readonly"), st, SyncOptions{})
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "vso.identity") || !strings.Contains(err.Error(), "the store holds no snapshot yet") {
		t.Fatalf("err = %v; want ErrForbidden naming vso.identity, saying there was no snapshot before", err)
	}
	// The failed run keeps the requests it made.
	runs, _ := st.Runs(context.Background())
	if len(runs) != 1 || runs[0].Status != "failed" || runs[0].APIRequests == 0 || runs[0].RequestsByArea["identity"] == 0 {
		t.Fatalf("runs after a failed sync: %+v; want one failed run with its requests", runs)
	}
}

func TestSecondSyncOnALockedStoreFails(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Preset: "small"})
	st := openStore(t)
	lock, err := st.Lock(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	_, err = Sync(context.Background(), dial(t, sim, "readonly"), st, SyncOptions{})
	if !errors.Is(err, snapshot.ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
}
