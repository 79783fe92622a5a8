package collect

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// orderCounter counts the user entitlement pages asked for by $orderBy.
type orderCounter struct {
	mu    sync.Mutex
	pages map[string]int
}

func (oc *orderCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(strings.ToLower(r.URL.Path), "/_apis/userentitlements") && r.Method == http.MethodGet {
		oc.mu.Lock()
		oc.pages[r.URL.Query().Get("$orderBy")]++
		oc.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

// syncEntitlements syncs the organization with concurrency slots and
// answers the run, the store's entitlement rows and the pages by order.
func syncEntitlements(t *testing.T, sim *adosim.Server, concurrency int) (snapshot.Run, []string, map[string]int) {
	t.Helper()
	oc := &orderCounter{pages: map[string]int{}}
	c, err := Dial(context.Background(), sim.URL(), Credential{PAT: sim.Credential("readonly")},
		Options{Concurrency: concurrency, Transport: oc, Retry: RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	run, err := Sync(context.Background(), c, st, SyncOptions{Progress: NewProgress()})
	if err != nil {
		t.Fatal(err)
	}
	return run, digest(t, st, run.ID)["entitlements"], oc.pages
}

// The chain of user entitlement pages is read from both ends at once and
// stops where they meet: the same rows as one end alone, in about half the
// pages each.
func TestUserEntitlementsFromBothEnds(t *testing.T) {
	t.Parallel()
	spec := pagingSpec
	spec.Users = 2500 // 25 or so pages
	sim := startSim(t, adosim.Options{Spec: &spec})
	want := sim.Stats().Counts.Entitlements
	pages := (want + 99) / 100

	_, one, byOrder := syncEntitlements(t, sim, 2) // too few slots for a second end
	if byOrder["name desc"] != 0 || byOrder["name asc"] != pages {
		t.Fatalf("with two slots: pages %v, want %d ascending only", byOrder, pages)
	}
	_, both, byOrder := syncEntitlements(t, sim, 8)
	asc, desc := byOrder["name asc"], byOrder["name desc"]
	if desc == 0 || max(asc, desc) > pages/2+2 || asc+desc > pages+2 {
		t.Fatalf("from both ends: %d + %d pages for %d, want about half each", asc, desc, pages)
	}
	// The table holds service principals' access levels too.
	if len(one) < want || !equalLines(one, both) {
		t.Fatalf("one end read %d rows, both ends %d, the organization has %d users, or they differ", len(one), len(both), want)
	}
}

// Names tie, and ties keep one order in both directions: where the ends
// meet inside a run of equal names, a crossing alone would skip rows. The
// read goes on until it has totalCount rows.
func TestUserEntitlementsWithTiedNames(t *testing.T) {
	t.Parallel()
	spec := pagingSpec
	spec.Users = 1500
	sim := startSim(t, adosim.Options{Spec: &spec})
	want := sim.Stats().Counts.Entitlements
	if n := sim.PlantNamesakes("Service Account", want); n != want {
		t.Fatalf("renamed %d of %d", n, want)
	}
	_, one, _ := syncEntitlements(t, sim, 2)
	_, rows, byOrder := syncEntitlements(t, sim, 8)
	if len(rows) < want || !equalLines(one, rows) {
		t.Fatalf("read %d rows with every name the same (pages %v), one end alone %d; %d users", len(rows), byOrder, len(one), want)
	}
	if pages := (want + 99) / 100; byOrder["name asc"]+byOrder["name desc"] > 2*pages+2 {
		t.Fatalf("pages %v: more than both ends whole (%d each)", byOrder, pages)
	}
}

// An end whose continuation token expires starts over; the rows it read
// are neither lost nor counted twice.
func TestUserEntitlementEndsStartOver(t *testing.T) {
	t.Parallel()
	spec := pagingSpec
	spec.Users = 2500
	clean := startSim(t, adosim.Options{Spec: &spec})
	faulty := startSim(t, adosim.Options{Spec: &spec, Faults: adosim.Faults{RateExpireToken: 0.08, Paths: []string{"/_apis/userentitlements"}}})
	r1, rows1, _ := syncEntitlements(t, clean, 8)
	r2, rows2, _ := syncEntitlements(t, faulty, 8)
	if faulty.Stats().Faults["expired_token"] == 0 {
		t.Fatal("no token expired: raise the rate")
	}
	if !equalLines(rows1, rows2) || r1.RowsSeen != r2.RowsSeen {
		t.Fatalf("after restarts %d rows (%d seen), without %d (%d)", len(rows2), r2.RowsSeen, len(rows1), r1.RowsSeen)
	}
}

// When one end fails, the sync says why, not that the other end was
// stopped.
func TestUserEntitlementEndFailureIsReported(t *testing.T) {
	t.Parallel()
	spec := pagingSpec
	spec.Users = 2500
	sim := startSim(t, adosim.Options{Spec: &spec})
	sim.SetFaults(adosim.Faults{RateExpireToken: 1, Paths: []string{"/_apis/userentitlements"}})
	c := dial(t, sim, "readonly")
	_, err := Sync(context.Background(), c, openStore(t), SyncOptions{Progress: NewProgress()})
	if err == nil || !strings.Contains(err.Error(), "list user entitlements") || !strings.Contains(err.Error(), "continuation token") || strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("err = %v", err)
	}
}

func equalLines(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The ends have met only when one gets a row the other delivered and the
// distinct rows reach the total; a row an end delivered itself (after it
// started over) is not a meeting.
func TestBothEndsMeet(t *testing.T) {
	row := func(d string) chainEntitlement {
		m := chainEntitlement{}
		m.User = &struct {
			Descriptor *string `json:"descriptor"`
		}{Descriptor: &d}
		return m
	}
	page := func(total int, ds ...string) *chainPage {
		p := &chainPage{TotalCount: total}
		for _, d := range ds {
			p.Members = append(p.Members, row(d))
		}
		return p
	}
	b := &bothEnds{seen: map[string]byte{}}
	if fresh, done := b.take(0, page(6, "a", "b")); len(fresh) != 2 || done {
		t.Fatalf("first page: %d fresh, done %v", len(fresh), done)
	}
	if fresh, done := b.take(0, page(6, "a", "b")); len(fresh) != 0 || done || b.met {
		t.Fatalf("an end reading its own rows again: %d fresh, done %v, met %v", len(fresh), done, b.met)
	}
	if fresh, done := b.take(1, page(6, "f", "e")); len(fresh) != 2 || done {
		t.Fatalf("other end: %d fresh, done %v", len(fresh), done)
	}
	// Crossed (b is the other end's) but c and d are still missing: a run
	// of tied names can put rows beyond a crossing.
	if fresh, done := b.take(1, page(6, "b")); len(fresh) != 0 || done || !b.met {
		t.Fatalf("crossing short of the total: %d fresh, done %v, met %v", len(fresh), done, b.met)
	}
	if fresh, done := b.take(0, page(6, "c", "d")); len(fresh) != 2 || !done {
		t.Fatalf("every row in: %d fresh, done %v", len(fresh), done)
	}
	// Without a total the rows are never known complete from a crossing.
	b = &bothEnds{seen: map[string]byte{}}
	b.take(0, page(0, "a"))
	if _, done := b.take(1, page(0, "a")); done {
		t.Fatal("complete without a totalCount")
	}
}
