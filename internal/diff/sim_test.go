package diff

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// simSpec is small enough for the race detector, with every awkward case
// the presets carry (hostile display names, a membership cycle, users in
// no group, dormant and never-seen users).
var simSpec = adosim.Spec{
	Users: 250, GuestShare: 0.1, MSAShare: 0.05, ServicePrincipals: 5, OrgGroups: 8,
	EntraGroups: 5, EntraGroupSize: 15, Projects: 6, MaxExtraTeams: 2, MaxRepos: 2,
	MembershipsPerUser: 5, NestingDepth: 4, GroupRules: 2, DormantShare: 0.1, NeverShare: 0.05, AuditHistory: 20,
}

// simStore syncs a simulated organization, applies random changes, moves
// the clock 30 days (so that some accounts turn dormant) and syncs again.
func simStore(t testing.TB, seed uint64) (st *snapshot.Store, a, b int64) {
	t.Helper()
	ctx := context.Background()
	sim, err := adosim.New(adosim.Options{Spec: &simSpec, Seed: seed, GeneratedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	st = newStore(t)
	sync := func() int64 {
		// A client per sync, as per process: its first answers set the
		// service's clock that the run's snapshot time is read from.
		c, err := collect.Dial(ctx, sim.URL(), collect.Credential{PAT: sim.Credential("readonly")}, collect.Options{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := collect.Sync(ctx, c, st, collect.SyncOptions{Teams: true, Pipelines: true, Tokens: true})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	a = sync()
	if _, err := sim.Mutate(adosim.MutateRequest{Count: 120, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	// Some of every kind the diff reports specially, and one account
	// disabled for certain (the draw above need not disable any).
	if _, err := sim.Mutate(adosim.MutateRequest{Count: 1, Seed: seed, Kinds: []string{"user.disable"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Mutate(adosim.MutateRequest{Count: 8, Seed: seed, Kinds: []string{"user.disable", "license.change", "nested.add", "nested.remove", "group.rename", "group.delete"}}); err != nil {
		t.Fatal(err)
	}
	sim.Advance(30 * 24 * time.Hour)
	b = sync()
	return st, a, b
}

// On simulator data after random changes (one store, synced twice, for
// both subtests: syncing is the slow part under the race detector).
func TestSimulatedOrganization(t *testing.T) {
	st, a, b := simStore(t, 21)
	t.Run("run and packet diffs agree", func(t *testing.T) { runAndPacketDiffsAgree(t, st, a, b) })
	t.Run("packet tables round-trip", func(t *testing.T) { packetTablesRoundTrip(t, st, b) })
}

// The run diff and the packet diff of the same two runs agree, change for
// change, whatever the packets' format.
func runAndPacketDiffsAgree(t *testing.T, st *snapshot.Store, a, b int64) {
	var raw []Change
	if err := Between(context.Background(), st, a, b, all, func(c Change) error { raw = append(raw, c); return nil }); err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(raw))
	kinds := map[string]int{}
	for i, c := range raw {
		got[i] = render(c)
		kinds[c.Kind]++
	}
	for _, k := range Kinds {
		if kinds[k] == 0 && k != Enabled { // the simulator never re-enables
			t.Errorf("no %s change among %d: the scenario does not exercise it (%v)", k, len(got), kinds)
		}
	}
	if !slices.ContainsFunc(raw, func(c Change) bool { return strings.ContainsAny(c.Name, "=\n") }) {
		t.Error("no change names an account with a hostile display name")
	}
	// Names read one by one or all at once are the same.
	defer func(n int) { lookupLimit = n }(lookupLimit)
	lookupLimit = 0
	sameLines(t, "names read all at once", between(t, st, a, b, all), got)
	for _, f := range [][2]string{{"csv", "csv"}, {"parquet", "parquet"}, {"csv", "parquet"}} {
		sameLines(t, "packets "+f[0]+" → "+f[1], packets(t, st, a, b, all, f[0], f[1]), got)
	}
	// The same changes, field for field, in the same order.
	dir := t.TempDir()
	writePacket(t, st, a, filepath.Join(dir, "a"), "csv")
	writePacket(t, st, b, filepath.Join(dir, "b"), "csv")
	var fromPackets []Change
	Packets(context.Background(), filepath.Join(dir, "a"), filepath.Join(dir, "b"), all, func(c Change) error {
		fromPackets = append(fromPackets, c)
		return nil
	})
	for i := range min(len(raw), len(fromPackets)) {
		if x, y := raw[i], fromPackets[i]; x.Subject != y.Subject || x.SubjectKind != y.SubjectKind || x.Key != y.Key || render(x) != render(y) {
			t.Fatalf("change %d differs:\n run:    %+v\n packet: %+v", i, x, y)
		}
	}
}

// A packet table read back gives the values written, hostile names
// included: the CSV escaping round-trips and Parquet types map back.
func packetTablesRoundTrip(t *testing.T, st *snapshot.Store, b int64) {
	dir := t.TempDir()
	for _, format := range []string{"csv", "parquet"} {
		writePacket(t, st, b, filepath.Join(dir, format), format)
		for _, pt := range PacketTables {
			want := packetRows(t, st, b, pt)
			for _, row := range want {
				for i, c := range pt.Columns() {
					row[i] = normalize(c.Type, row[i])
				}
			}
			r, found, err := openTable(filepath.Join(dir, format), pt)
			if err != nil || !found {
				t.Fatalf("%s %s: found %v, %v", format, pt.Name, found, err)
			}
			var got [][]string
			if err := readAll(r, func(row []string) error { got = append(got, row); return nil }); err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, want, slices.Equal) {
				t.Errorf("%s %s: %d rows read back differ from the %d written", format, pt.Name, len(got), len(want))
			}
		}
	}
	// The CSV really holds escaped values.
	accounts, _ := os.ReadFile(filepath.Join(dir, "csv", "accounts.csv"))
	if !strings.Contains(string(accounts), "'=HYPERLINK") || !strings.Contains(string(accounts), "'+SUM") {
		t.Error("accounts.csv does not carry the hostile names escaped")
	}
}
