package diff

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	// Every attribute of every entity table is compared somewhere.
	for _, st := range snapshot.Tables {
		for _, col := range st.Attrs {
			if !slices.ContainsFunc(PacketTables, func(pt *PacketTable) bool {
				return slices.ContainsFunc(pt.Compare, func(c Column) bool { return c.Table == st.Name && c.Store == col })
			}) {
				t.Errorf("%s.%s is compared by no packet table", st.Name, col)
			}
		}
	}
}

func TestCSVEscape(t *testing.T) {
	for v, want := range map[string]string{
		"=1+2": "'=1+2", "+SUM(1)": "'+SUM(1)", "-2": "'-2", "@x": "'@x", "\tx": "'\tx", "\rx": "'\rx",
		"plain": "plain", "": "", "'quoted": "''quoted", "'=x": "''=x", "O'Brien": "O'Brien", "a=b": "a=b", "\nx": "\nx",
	} {
		if got := CSVEscape(v); got != want {
			t.Errorf("CSVEscape(%q) = %q, want %q", v, got, want)
		}
		if got := CSVUnescape(CSVEscape(v)); got != v {
			t.Errorf("CSVUnescape(CSVEscape(%q)) = %q", v, got)
		}
	}
}

// Escaping round-trips every value, and no escaped value starts with a
// character a spreadsheet would act on.
func FuzzCSVEscape(f *testing.F) {
	for _, s := range []string{"=HYPERLINK(\"x\")", "+1", "-1", "@a", "\t", "'=", "''", "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		e := CSVEscape(v)
		if got := CSVUnescape(e); got != v {
			t.Errorf("round trip of %q gave %q", v, got)
		}
		if e != "" && strings.IndexByte(csvTriggers, e[0]) >= 0 {
			t.Errorf("CSVEscape(%q) = %q starts with a formula character", v, e)
		}
	})
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
