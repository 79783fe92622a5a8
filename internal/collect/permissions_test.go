package collect

import (
	"context"
	"strings"
	"testing"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// A full sync reads the namespace list and one ACL query per namespace,
// whatever the number of projects, repositories and branches.
func TestPermissionsTakeOneQueryPerNamespace(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Spec: &propertySpec})
	st := openStore(t)
	run := syncMode(t, dial(t, sim, "readwrite"), st, "full")
	if got, want := run.RequestsByArea["security"], int64(1+len(DefaultNamespaces)); got != want {
		t.Errorf("security requests %d, want %d (the list and one per namespace)", got, want)
	}
	n := map[string]int{}
	for _, tbl := range []*snapshot.Table{snapshot.SecurityNamespaces, snapshot.NamespaceActions, snapshot.ACLs, snapshot.ACEs} {
		st.Scan(context.Background(), tbl, run.ID, func(snapshot.Row) error { n[tbl.Name]++; return nil })
	}
	if n["security_namespaces"] < 60 || n["namespace_actions"] < 300 || n["acls"] < 2*propertySpec.Projects || n["aces"] < 10*propertySpec.Projects {
		t.Errorf("rows %v: want every namespace, their actions, and the ACLs of every project", n)
	}
}

// A permission change costs a few requests, not a full read.
func TestIncrementalPermissionChangeIsTargeted(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Spec: &propertySpec, Seed: 2})
	c := dial(t, sim, "readwrite")
	st := openStore(t)
	syncMode(t, c, st, "full")
	for _, kind := range []string{"permission.set", "acl.inherit", "permission.reset"} {
		if _, err := sim.Mutate(adosim.MutateRequest{Count: 1, Seed: 4, Kinds: []string{kind}}); err != nil {
			t.Fatal(err)
		}
		run := syncMode(t, c, st, "incremental")
		if strings.Contains(run.Note, "re-read in full") || !strings.Contains(run.Note, "1 mapped") {
			t.Errorf("%s: note %q, want one targeted re-read", kind, run.Note)
		}
		// The namespace list, and the token changed with what is below it.
		if got := run.RequestsByArea["security"]; got != 2 {
			t.Errorf("%s: %d security requests (%v), want 2", kind, got, run.RequestsByArea)
		}
		if run.VersionsWritten == 0 {
			t.Errorf("%s: the change wrote no version", kind)
		}
	}
}

// Without Security (Manage) the sync goes on: the permission tables keep
// what the last run that could read them found, and the note says why.
func TestPermissionsWithoutTheScope(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Spec: &propertySpec})
	st := openStore(t)
	first := syncMode(t, dial(t, sim, "readwrite"), st, "full")
	second := syncMode(t, dial(t, sim, "readonly"), st, "full")
	if !strings.Contains(second.Note, "permissions were not read") || !strings.Contains(second.Note, "vso.security_manage") {
		t.Fatalf("note %q, want why permissions were not read", second.Note)
	}
	count := func(run int64) (n int) {
		st.Scan(context.Background(), snapshot.ACEs, run, func(snapshot.Row) error { n++; return nil })
		return n
	}
	if a, b := count(first.ID), count(second.ID); a == 0 || a != b {
		t.Errorf("entries at run %d: %d, at run %d: %d; want them kept", first.ID, a, second.ID, b)
	}
}
