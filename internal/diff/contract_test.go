package diff

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// Every store column the contract names exists, so export can write it
// and a run diff can read it.
func TestContractNamesStoreColumns(t *testing.T) {
	for _, pt := range PacketTables {
		for _, c := range pt.Columns() {
			if c.Table == "" || c.Table == "access_dates" {
				continue
			}
			st := snapshot.TableByName(c.Table)
			if st == nil || !slices.Contains(st.Columns(), c.Store) {
				t.Errorf("%s.%s comes from %s.%s, which the store lacks", pt.Name, c.Name, c.Table, c.Store)
			}
		}
	}
	// Every attribute of every entity table is compared somewhere; the
	// permission tables are compared as what they grant (PermissionChanges).
	for _, st := range snapshot.Tables {
		if slices.Contains(permissionTables, st) {
			continue
		}
		for _, col := range st.Attrs {
			if !slices.ContainsFunc(PacketTables, func(pt *PacketTable) bool {
				return slices.ContainsFunc(pt.Compare, func(c Column) bool { return c.Table == st.Name && c.Store == col })
			}) {
				t.Errorf("%s.%s is compared by no packet table", st.Name, col)
			}
		}
	}
}

// A packet is untrusted input: whatever its files hold, Packets returns
// changes or an error, and never panics.
func FuzzPackets(f *testing.F) {
	f.Add([]byte("descriptor,display_name\nvssgp.a,A\n"), []byte("group_descriptor,member_descriptor\na,b\n"), false)
	f.Add([]byte("\ufeffdescriptor,subject_type,scope_id,origin,origin_id,display_name,principal_name,description,domain,mail,entra_managed\nx,,,,,'=a,,,,,true\n"), []byte("PAR1garbagePAR1"), true)
	f.Fuzz(func(t *testing.T, groups, memberships []byte, parquet bool) {
		dir := t.TempDir()
		for _, packet := range []string{"old", "new"} {
			os.MkdirAll(filepath.Join(dir, packet), 0o755)
			os.WriteFile(filepath.Join(dir, packet, "groups.csv"), groups, 0o644)
			name := "memberships.csv"
			if parquet {
				name = "memberships.parquet"
			}
			os.WriteFile(filepath.Join(dir, packet, name), memberships, 0o644)
		}
		Packets(context.Background(), filepath.Join(dir, "old"), filepath.Join(dir, "new"), Options{Effective: true}, func(Change) error { return nil })
	})
}
