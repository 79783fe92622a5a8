// Package duckdb runs SQL with DuckDB for tests, as an independent reader
// of the warehouse export: a Hive-partitioned Parquet dataset read the way
// a data engineer would read it. DuckDB comes from npm (@duckdb/node-api,
// installed by scripts/duckdb.sh into .tools/duckdb); each Query runs one
// node process for all of its statements.
//
// The query script is found through DUCKDB_QUERY, else in .tools/duckdb at
// the module root. Without it the tests that need it skip, unless
// DUCKDB_REQUIRED=1 (as .ci/run sets it): then they fail, so that CI never
// passes without having run them.
package duckdb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Script is the query script (scripts/duckdb/query.mjs as installed), or
// "" if DuckDB is not installed.
func Script() string {
	if s := os.Getenv("DUCKDB_QUERY"); s != "" {
		return s
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			s := filepath.Join(d, ".tools", "duckdb", "query.mjs")
			if _, err := os.Stat(filepath.Join(d, ".tools", "duckdb", "node_modules", "@duckdb", "node-api")); err == nil {
				return s
			}
			return ""
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// DB runs statements with DuckDB.
type DB struct{ script string }

// Need returns a DB, or skips the test when DuckDB is not installed (fails
// it under DUCKDB_REQUIRED=1).
func Need(t testing.TB) *DB {
	t.Helper()
	s := Script()
	if s == "" {
		msg := "DuckDB is not installed: run scripts/duckdb.sh install (or set DUCKDB_QUERY)"
		if os.Getenv("DUCKDB_REQUIRED") == "1" {
			t.Fatalf("DUCKDB_REQUIRED=1: %s", msg)
		}
		t.Skipf("skipping the DuckDB test: %s", msg)
	}
	return &DB{script: s}
}

// Rows are one statement's result: column name to value (64-bit integers
// come as decimal strings).
type Rows []map[string]any

// Query runs the statements in one DuckDB session and returns each one's
// rows.
func (db *DB) Query(t testing.TB, statements ...string) []Rows {
	t.Helper()
	in, _ := json.Marshal(statements)
	cmd := exec.Command("node", db.script)
	cmd.Stdin = bytes.NewReader(in)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("duckdb: %v: %s\nstatements:\n%s", err, strings.TrimSpace(errb.String()), strings.Join(statements, ";\n"))
	}
	var res []Rows
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("duckdb: read the results: %v\n%s", err, out.String())
	}
	return res
}

// Quote writes s as an SQL string literal.
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Int reads an integer value of a row.
func Int(v any) int64 {
	var n int64
	fmt.Sscan(fmt.Sprint(v), &n)
	return n
}
