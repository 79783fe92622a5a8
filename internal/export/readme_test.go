package export

import (
	"os"
	"path"
	"regexp"
	"strings"
	"testing"
)

// readmeSchemas reads the README's table schemas: table → its columns as
// "name type" with "?" when nullable ("mail string?").
func readmeSchemas(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "**Table schemas**")
	if start < 0 {
		t.Fatal("the README has no Table schemas")
	}
	line := regexp.MustCompile(`(?m)^- \*\*([a-z_]+)\*\*[^:]*?(?:\([^)]*\))?: ` + "`([^`]+)`")
	out := map[string][]string{}
	for _, m := range line.FindAllStringSubmatch(text[start:], -1) {
		var cols []string
		for _, entry := range splitTop(m[2]) {
			if i := strings.Index(entry, " ("); i >= 0 {
				entry = entry[:i] // a note: values, or what null means
			}
			f := strings.Fields(entry)
			nullable := strings.HasSuffix(entry, "?")
			name, typ := strings.TrimSuffix(f[0], "?"), "string"
			if len(f) > 1 {
				typ = strings.TrimSuffix(f[1], "?")
			}
			if typ == "ts" {
				typ = "timestamp"
			}
			if nullable {
				typ += "?"
			}
			cols = append(cols, name+" "+typ)
		}
		out[m[1]] = cols
	}
	return out
}

// splitTop splits a column list at commas outside parentheses.
func splitTop(s string) []string {
	var out []string
	depth, from := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[from:i]))
				from = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[from:]))
}

// The README's table schemas are the tables' definitions: every column,
// in order, with its type, and "?" exactly on the nullable ones.
func TestReadmeSchemasMatchTheTables(t *testing.T) {
	readme := readmeSchemas(t)
	for _, tbl := range PacketTables {
		var want []string
		for _, c := range tbl.Columns {
			w := c.Name + " " + c.Type.String()
			if c.Nullable {
				w += "?"
			}
			want = append(want, w)
		}
		got, ok := readme[tbl.Name]
		if !ok {
			t.Errorf("the README has no schema of %s", tbl.Name)
			continue
		}
		if strings.Join(got, ", ") != strings.Join(want, ", ") {
			t.Errorf("README schema of %s:\n  %s\nthe table:\n  %s", tbl.Name, strings.Join(got, ", "), strings.Join(want, ", "))
		}
	}
}

// The README's DuckDB query finds the files of a warehouse in either
// layout (--partition run adds a folder level).
func TestReadmeDuckDBGlobFindsBothLayouts(t *testing.T) {
	b, _ := os.ReadFile("../../README.md")
	m := regexp.MustCompile(`read_parquet\('warehouse/([^']+)'`).FindSubmatch(b)
	if m == nil {
		t.Fatal("the README has no read_parquet('warehouse/…') query")
	}
	glob := string(m[1])
	for _, layout := range []string{
		"accounts/org=x/org_id=1/snapshot_date=2026-11-01/part-1-0.parquet",
		"accounts/org=x/org_id=1/snapshot_date=2026-11-01/run=7/part-7-0.parquet",
	} {
		if !globMatch(strings.Split(glob, "/"), strings.Split(layout, "/")) {
			t.Errorf("the README's glob %s does not find %s", glob, layout)
		}
	}
}

// globMatch matches path segments as DuckDB's globs do: ** is any number
// of folders, other segments as path.Match.
func globMatch(pattern, name []string) bool {
	if len(pattern) == 0 {
		return len(name) == 0
	}
	if pattern[0] == "**" {
		for i := 0; i <= len(name); i++ {
			if globMatch(pattern[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	ok, _ := path.Match(pattern[0], name[0])
	return ok && globMatch(pattern[1:], name[1:])
}
