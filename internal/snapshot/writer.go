package snapshot

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Writer writes one run. Every change is in one transaction: nothing is
// visible until Commit, and a crash at any moment leaves the previous
// snapshot as it was. A Writer is used from one goroutine.
//
// A row gets a new version only when its content changes: Put compares the
// content hash with the current version, closes it (valid_to = this run)
// and inserts the new one. In a full sync, StartFull/EndFull bracket a
// table: rows (or scopes) not put in between are closed as gone.
type Writer struct {
	s     *Store
	ctx   context.Context
	tx    *sql.Tx
	run   Run
	stmts map[*Table]*tableStmts
	// seen holds, for each table under a full read, the keys (or scopes)
	// put so far; EndFull closes the current rows not among them.
	seen                   map[*Table]map[string]struct{}
	setAccess, setIdentity *sql.Stmt
	// deferred holds the secondary indexes dropped from tables that began
	// a full read empty (see StartFull), to be built again in one pass.
	deferred map[*Table][]string

	rowsSeen, added, closed int64
}

// Begin starts a run of org (its URL; the run also records the id of the
// organization the store is bound to). The run is recorded as 'running' at
// once (so a crash is visible afterwards) and its data goes into a
// transaction that Commit makes visible. Take the writer lock first.
func (s *Store) Begin(ctx context.Context, org, kind string) (*Writer, error) {
	org = NormalizeOrg(org)
	bound, _, err := s.Organization(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO runs (org, org_id, kind, status, started_at) VALUES (?, ?, ?, 'running', ?)`, org, bound.ID, kind, formatTime(time.Now()))
	if err != nil {
		return nil, fmt.Errorf("record run: %w", explain(s.path, err))
	}
	id, _ := res.LastInsertId()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		s.markFailed(id, err, RunStats{}, time.Now())
		return nil, fmt.Errorf("begin run %d: %w", id, explain(s.path, err))
	}
	if kind == "full" || s.checkDue(ctx) {
		s.startCheck(ctx) // see Check: every full run, and once a day
	}
	w := &Writer{s: s, ctx: ctx, tx: tx, stmts: map[*Table]*tableStmts{}, seen: map[*Table]map[string]struct{}{}, deferred: map[*Table][]string{}}
	w.run, _ = s.Run(ctx, id)
	if err := w.prepare(); err != nil {
		tx.Rollback()
		s.markFailed(id, err, RunStats{}, time.Now())
		return nil, fmt.Errorf("begin run %d: %w", id, explain(s.path, err))
	}
	return w, nil
}

// ID is the run's id.
func (w *Writer) ID() int64 { return w.run.ID }

// Run describes the run being written.
func (w *Writer) Run() Run { return w.run }

type tableStmts struct {
	current, insert, insertMany, rewrite, close, remove, scope, closeScope *sql.Stmt
}

// insertBatch is how many rows one multi-row INSERT carries when a scope
// brings many new rows at once (a first sync of a large group).
const insertBatch = 64

func (w *Writer) prepare() error {
	var err error
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = w.tx.PrepareContext(w.ctx, q)
		return st
	}
	for _, t := range Tables {
		keyWhere := equalsAll(t.Key)
		cols := t.Columns()
		row := "(" + placeholders(len(cols)+2) + ")"
		ts := &tableStmts{}
		ts.current = prep(`SELECT valid_from, hash FROM ` + t.Name + ` WHERE ` + keyWhere + ` AND valid_to IS NULL`)
		insert := `INSERT INTO ` + t.Name + ` (` + strings.Join(cols, ", ") + `, valid_from, hash) VALUES `
		ts.insert = prep(insert + row)
		ts.insertMany = prep(insert + strings.TrimSuffix(strings.Repeat(row+", ", insertBatch), ", "))
		if len(t.Attrs) > 0 {
			ts.rewrite = prep(`UPDATE ` + t.Name + ` SET ` + strings.Join(suffixAll(t.Attrs, " = ?"), ", ") + `, hash = ? WHERE ` + keyWhere + ` AND valid_from = ?`)
		} else {
			ts.rewrite = prep(`UPDATE ` + t.Name + ` SET hash = ? WHERE ` + keyWhere + ` AND valid_from = ?`)
		}
		ts.close = prep(`UPDATE ` + t.Name + ` SET valid_to = ? WHERE ` + keyWhere + ` AND valid_to IS NULL`)
		ts.remove = prep(`DELETE FROM ` + t.Name + ` WHERE ` + keyWhere + ` AND valid_from = ?`)
		if t.Scope > 0 {
			scopeWhere := equalsAll(t.Key[:t.Scope])
			ts.scope = prep(`SELECT ` + strings.Join(t.Key[t.Scope:], ", ") + `, valid_from, hash FROM ` + t.Name + ` WHERE ` + scopeWhere + ` AND valid_to IS NULL`)
			ts.closeScope = prep(`UPDATE ` + t.Name + ` SET valid_to = ? WHERE ` + scopeWhere + ` AND valid_to IS NULL`)
		}
		w.stmts[t] = ts
	}
	w.setAccess = prep(`INSERT INTO access_dates (descriptor, last_accessed, run) VALUES (?, ?, ?)
		ON CONFLICT (descriptor) DO UPDATE SET last_accessed = excluded.last_accessed, run = excluded.run
		WHERE access_dates.last_accessed IS NOT excluded.last_accessed`)
	w.setIdentity = prep(`INSERT INTO identity_keys (descriptor, storage_key, legacy) VALUES (?, ?, ?)
		ON CONFLICT (descriptor) DO UPDATE SET
			storage_key = CASE WHEN excluded.storage_key != '' THEN excluded.storage_key ELSE identity_keys.storage_key END,
			legacy      = CASE WHEN excluded.legacy      != '' THEN excluded.legacy      ELSE identity_keys.legacy      END
		WHERE (excluded.storage_key != '' AND excluded.storage_key != identity_keys.storage_key)
		   OR (excluded.legacy != '' AND excluded.legacy != identity_keys.legacy)`)
	return err
}

func equalsAll(cols []string) string { return strings.Join(suffixAll(cols, " = ?"), " AND ") }

func suffixAll(cols []string, suffix string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c + suffix
	}
	return out
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// StartFull begins a full read of t: every row (or scope) still current at
// EndFull that was not put in between is closed.
//
// A table that begins its full read empty (a first sync) loses its
// secondary indexes until EndFull, which builds them again by sorting.
// Keeping them up to date row by row costs more than the rows themselves:
// on the large preset, memberships' two indexes are as big as the table,
// and inserting into three B-trees at random places spilled the page cache
// to the WAL over and over (about a third of a first sync's CPU).
func (w *Writer) StartFull(t *Table) error {
	w.seen[t] = map[string]struct{}{}
	var one int
	err := w.tx.QueryRowContext(w.ctx, `SELECT 1 FROM `+t.Name+` LIMIT 1`).Scan(&one)
	if !errors.Is(err, sql.ErrNoRows) {
		return err // nil: the table has rows, and its indexes stay
	}
	return w.deferIndexes(t)
}

// deferIndexes drops t's secondary indexes, remembering how to build them.
func (w *Writer) deferIndexes(t *Table) error {
	rows, err := w.tx.QueryContext(w.ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`, t.Name)
	if err != nil {
		return fmt.Errorf("read the indexes of %s: %w", t.Name, err)
	}
	var names, defs []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			rows.Close()
			return err
		}
		names, defs = append(names, name), append(defs, def)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, name := range names {
		if _, err := w.tx.ExecContext(w.ctx, `DROP INDEX "`+name+`"`); err != nil {
			return fmt.Errorf("defer index %s: %w", name, explain(w.s.path, err))
		}
	}
	if len(defs) > 0 {
		w.deferred[t] = defs
	}
	return nil
}

// buildIndexes builds the indexes deferIndexes dropped from t, if any: at
// EndFull, or before any read of t by a column other than its key. Built
// at EndFull, not as soon as a step has written the table: mid-run the
// build's memory adds to the readers' (measured: 440 MB peak instead of
// 370 MB on the large preset, for 8 s less wall).
// indexBuildThreads is how many helper threads SQLite's sorter may use to
// build a deferred index (a variable for the benchmark that compares).
var indexBuildThreads = 2

func (w *Writer) buildIndexes(t *Table) error {
	defs := w.deferred[t]
	if len(defs) == 0 {
		return nil
	}
	delete(w.deferred, t)
	// The sort spills to a temporary file with a small cache, not to
	// memory: measured on memberships of the large preset, 42 MB peak
	// instead of 535 MB, and no slower. It sorts with helper threads: the
	// build runs at the commit, when the reads are done and cores idle
	// (BenchmarkDeferredIndexBuild: 5 to 13% off the build on two cores).
	for _, p := range []string{`PRAGMA temp_store = FILE`, `PRAGMA cache_size = -8192`, `PRAGMA threads = ` + strconv.Itoa(indexBuildThreads)} {
		if _, err := w.tx.ExecContext(w.ctx, p); err != nil {
			return fmt.Errorf("build the indexes of %s: %w", t.Name, err)
		}
	}
	defer func() {
		w.tx.ExecContext(w.ctx, `PRAGMA threads = 0`)
		w.tx.ExecContext(w.ctx, `PRAGMA temp_store = MEMORY`)
		w.tx.ExecContext(w.ctx, `PRAGMA cache_size = `+strconv.Itoa(writerCacheKiB))
	}()
	for _, def := range defs {
		if _, err := w.tx.ExecContext(w.ctx, def); err != nil {
			return fmt.Errorf("build the indexes of %s: %w", t.Name, explain(w.s.path, err))
		}
	}
	return nil
}

// EndFull closes the rows of t (or, for a scoped table, the scopes) that
// the full read did not see.
func (w *Writer) EndFull(t *Table) error {
	seen := w.seen[t]
	if seen == nil {
		return fmt.Errorf("snapshot: EndFull(%s) without StartFull", t.Name)
	}
	delete(w.seen, t)
	if err := w.buildIndexes(t); err != nil {
		return err
	}
	n := len(t.Key)
	if t.Scope > 0 {
		n = t.Scope
	}
	rows, err := w.tx.QueryContext(w.ctx, `SELECT DISTINCT `+strings.Join(t.Key[:n], ", ")+` FROM `+t.Name+` WHERE valid_to IS NULL`)
	if err != nil {
		return fmt.Errorf("find rows of %s not seen: %w", t.Name, err)
	}
	var gone [][]any
	for rows.Next() {
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return err
		}
		if _, ok := seen[Row(vals).key(n)]; !ok {
			gone = append(gone, vals)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, key := range gone {
		if t.Scope > 0 {
			res, err := w.stmts[t].closeScope.ExecContext(w.ctx, append([]any{w.run.ID}, key...)...)
			if err != nil {
				return fmt.Errorf("close %s of %v: %w", t.Name, key, err)
			}
			closed, _ := res.RowsAffected()
			w.closed += closed
			continue
		}
		if err := w.end(t, key); err != nil {
			return fmt.Errorf("close %s %v: %w", t.Name, key, err)
		}
	}
	return nil
}

// Put writes the current state of one entity.
func (w *Writer) Put(t *Table, row Row) error {
	if len(row) != len(t.Key)+len(t.Attrs) {
		return fmt.Errorf("snapshot: %s row has %d values, want %d", t.Name, len(row), len(t.Key)+len(t.Attrs))
	}
	if err := w.upsert(t, row, contentHash(row[len(t.Key):])); err != nil {
		return fmt.Errorf("write %s %v: %w", t.Name, row[:len(t.Key)], explain(w.s.path, err))
	}
	seen := w.seen[t]
	if seen == nil {
		w.rowsSeen++
		return nil
	}
	n := len(t.Key)
	if t.Scope > 0 {
		n = t.Scope
	}
	k := row.key(n)
	// A listing that starts over (an expired continuation token) puts
	// the same rows again: count each key of a full read once.
	if _, again := seen[k]; !again || t.Scope > 0 {
		w.rowsSeen++
	}
	seen[k] = struct{}{}
	return nil
}

// upsert compares row with the current version and writes what changed.
func (w *Writer) upsert(t *Table, row Row, h int64) error {
	ts := w.stmts[t]
	key := row[:len(t.Key)]
	var from, old int64
	err := ts.current.QueryRowContext(w.ctx, key...).Scan(&from, &old)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return w.insert(t, row, h)
	case err != nil:
		return err
	case old == h:
		return nil
	case from == w.run.ID: // already written by this run: rewrite in place
		args := append(append(append([]any{}, row[len(t.Key):]...), h), key...)
		_, err = ts.rewrite.ExecContext(w.ctx, append(args, from)...)
		return err
	}
	if _, err := ts.close.ExecContext(w.ctx, append([]any{w.run.ID}, key...)...); err != nil {
		return err
	}
	w.closed++
	return w.insert(t, row, h)
}

func (w *Writer) insert(t *Table, row Row, h int64) error {
	args := append(append([]any{}, row...), w.run.ID, h)
	if _, err := w.stmts[t].insert.ExecContext(w.ctx, args...); err != nil {
		return err
	}
	w.added++
	return nil
}

// Delete records that an entity is gone.
func (w *Writer) Delete(t *Table, key ...any) error {
	if len(key) != len(t.Key) {
		return fmt.Errorf("snapshot: %s key has %d values, want %d", t.Name, len(key), len(t.Key))
	}
	if err := w.end(t, key); err != nil {
		return fmt.Errorf("delete %s %v: %w", t.Name, key, err)
	}
	return nil
}

// end closes the current version of key, or drops it if this run wrote it.
func (w *Writer) end(t *Table, key []any) error {
	ts := w.stmts[t]
	var from, h int64
	err := ts.current.QueryRowContext(w.ctx, key...).Scan(&from, &h)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	case from == w.run.ID:
		if _, err := ts.remove.ExecContext(w.ctx, append(append([]any{}, key...), from)...); err != nil {
			return err
		}
		w.added--
		return nil
	}
	if _, err := ts.close.ExecContext(w.ctx, append([]any{w.run.ID}, key...)...); err != nil {
		return err
	}
	w.closed++
	return nil
}

// ReplaceScope makes rows the complete current content of one scope of t
// (for memberships: every member of one container). Each row carries its
// full key, scope columns first.
func (w *Writer) ReplaceScope(t *Table, scope []any, rows []Row) error {
	if t.Scope == 0 || len(scope) != t.Scope {
		return fmt.Errorf("snapshot: %s is not replaced by scopes of %d columns", t.Name, len(scope))
	}
	ts := w.stmts[t]
	type version struct{ from, hash int64 }
	current := map[string]version{}
	cur, err := ts.scope.QueryContext(w.ctx, scope...)
	if err != nil {
		return fmt.Errorf("read %s of %v: %w", t.Name, scope, err)
	}
	rest := len(t.Key) - t.Scope
	for cur.Next() {
		vals := make([]any, rest+2)
		ptrs := make([]any, rest+2)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := cur.Scan(ptrs...); err != nil {
			cur.Close()
			return err
		}
		current[Row(vals[:rest]).key(rest)] = version{vals[rest].(int64), vals[rest+1].(int64)}
	}
	cur.Close()
	if err := cur.Err(); err != nil {
		return err
	}
	kept := make(map[string]bool, len(rows))
	var fresh []Row // rows with no current version: inserted in batches
	var freshHashes []int64
	for _, row := range rows {
		if len(row) != len(t.Key)+len(t.Attrs) {
			return fmt.Errorf("snapshot: %s row has %d values, want %d", t.Name, len(row), len(t.Key)+len(t.Attrs))
		}
		w.rowsSeen++
		k := Row(row[t.Scope:len(t.Key)]).key(rest)
		if kept[k] {
			continue // the same member twice in one answer
		}
		kept[k] = true
		h := contentHash(row[len(t.Key):])
		v, ok := current[k]
		switch {
		case !ok:
			fresh = append(fresh, row)
			freshHashes = append(freshHashes, h)
		case v.hash == h:
		default:
			if err := w.upsert(t, row, h); err != nil {
				return fmt.Errorf("write %s %v: %w", t.Name, row[:len(t.Key)], err)
			}
		}
	}
	if err := w.insertAll(t, fresh, freshHashes); err != nil {
		return fmt.Errorf("write %s of %v: %w", t.Name, scope, err)
	}
	for k := range current {
		if kept[k] {
			continue
		}
		key := append(append([]any{}, scope...), splitKey(k, rest)...)
		if err := w.end(t, key); err != nil {
			return fmt.Errorf("close %s %v: %w", t.Name, key, err)
		}
	}
	if seen := w.seen[t]; seen != nil {
		seen[Row(scope).key(t.Scope)] = struct{}{}
	}
	return nil
}

// insertAll inserts rows known to have no current version, many per
// statement.
func (w *Writer) insertAll(t *Table, rows []Row, hashes []int64) error {
	ts := w.stmts[t]
	for len(rows) >= insertBatch {
		args := make([]any, 0, insertBatch*(len(rows[0])+2))
		for i, r := range rows[:insertBatch] {
			args = append(append(args, r...), w.run.ID, hashes[i])
		}
		if _, err := ts.insertMany.ExecContext(w.ctx, args...); err != nil {
			return err
		}
		w.added += insertBatch
		rows, hashes = rows[insertBatch:], hashes[insertBatch:]
	}
	for i, r := range rows {
		if err := w.insert(t, r, hashes[i]); err != nil {
			return err
		}
	}
	return nil
}

func splitKey(k string, n int) []any {
	parts := strings.SplitN(k, "\x1f", n)
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out
}

// DeleteScope closes every current row of one scope (a deleted group's
// memberships).
func (w *Writer) DeleteScope(t *Table, scope ...any) error {
	return w.ReplaceScope(t, scope, nil)
}

// SetLastAccess records an account's last access in place (nil: never).
// It is a volatile fact: it changes no row version.
func (w *Writer) SetLastAccess(descriptor string, last *time.Time) error {
	var v any
	if last != nil && !last.IsZero() {
		v = formatTime(*last)
	}
	_, err := w.setAccess.ExecContext(w.ctx, descriptor, v, w.run.ID)
	return err
}

// SetIdentityKeys records how a subject is named across the APIs; empty
// values leave what is known.
func (w *Writer) SetIdentityKeys(descriptor, storageKey, legacy string) error {
	_, err := w.setIdentity.ExecContext(w.ctx, descriptor, strings.ToLower(storageKey), legacy)
	return err
}

// Current streams the current rows of t as this run sees them (its own
// writes included).
func (w *Writer) Current(t *Table, fn func(Row) error) error {
	return scanRows(w.ctx, w.tx, t, `SELECT `+strings.Join(t.Columns(), ", ")+` FROM `+t.Name+` WHERE valid_to IS NULL`, nil, fn)
}

// Current streams the current rows of t as last committed, on a
// connection of its own (so it can run beside a writer).
func (s *Store) Current(ctx context.Context, t *Table, fn func(Row) error) error {
	return scanRows(ctx, s.db, t, `SELECT `+strings.Join(t.Columns(), ", ")+` FROM `+t.Name+` WHERE valid_to IS NULL`, nil, fn)
}

// CurrentWhere streams the current rows of t whose column col equals val
// (col must be one of t's columns).
func (w *Writer) CurrentWhere(t *Table, col string, val any, fn func(Row) error) error {
	if !slices.Contains(t.Columns(), col) {
		return fmt.Errorf("snapshot: %s has no column %s", t.Name, col)
	}
	if col != t.Key[0] {
		if err := w.buildIndexes(t); err != nil {
			return err
		}
	}
	return scanRows(w.ctx, w.tx, t, `SELECT `+strings.Join(t.Columns(), ", ")+` FROM `+t.Name+` WHERE `+col+` = ? AND valid_to IS NULL`, []any{val}, fn)
}

// Exists reports whether t has a current row with this key.
func (w *Writer) Exists(t *Table, key ...any) (bool, error) {
	var from, h int64
	err := w.stmts[t].current.QueryRowContext(w.ctx, key...).Scan(&from, &h)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// Store is the store the run writes to.
func (w *Writer) Store() *Store { return w.s }

// IdentityKeys streams every identity key of the last committed state, on
// a connection of its own (so it can run beside a writer).
func (s *Store) IdentityKeys(ctx context.Context, fn func(descriptor, storageKey, legacy string) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT descriptor, storage_key, legacy FROM identity_keys`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var d, k, l string
		if err := rows.Scan(&d, &k, &l); err != nil {
			return err
		}
		if err := fn(d, k, l); err != nil {
			return err
		}
	}
	return rows.Err()
}

// RunStats are the figures a run records when it commits.
type RunStats struct {
	SnapshotTime    time.Time
	AuditCursorTime time.Time // zero: no cursor
	AuditCursorID   string
	// AuditSeen are the ids of entries near the cursor that the run has
	// handled; the next incremental run skips them.
	AuditSeen      []string
	APIRequests    int64
	RequestsByArea map[string]int64
	Retries        int64
	Note           string
}

// Progress reports rows seen and versions added and closed so far.
func (w *Writer) Progress() (rowsSeen, added, closed int64) { return w.rowsSeen, w.added, w.closed }

// Commit makes the run visible as complete. If the store's integrity is
// being checked (see Check), it waits for the answer first: a checked run
// is never committed into a damaged file.
func (w *Writer) Commit(st RunStats) (Run, error) {
	for t := range w.seen {
		return w.run, fmt.Errorf("snapshot: commit with a full read of %s still open", t.Name)
	}
	for t := range w.deferred { // not reached while EndFull builds them; a safety net
		if err := w.buildIndexes(t); err != nil {
			w.Abort(err, st)
			return w.run, fmt.Errorf("commit run %d: %w", w.run.ID, err)
		}
	}
	checked, err := w.s.waitCheck(w.ctx)
	if err != nil {
		w.Abort(err, st)
		return w.run, fmt.Errorf("commit run %d: %w", w.run.ID, err)
	}
	areas := usageJSON(st)
	var snap, cursorTime any
	if !st.SnapshotTime.IsZero() {
		snap = formatTime(st.SnapshotTime)
	}
	if !st.AuditCursorTime.IsZero() {
		cursorTime = formatTime(st.AuditCursorTime)
	}
	_, err = w.tx.ExecContext(w.ctx, `UPDATE runs SET status = 'complete', finished_at = ?, snapshot_time = ?,
		audit_cursor_time = ?, audit_cursor_id = ?, api_requests = ?, requests_by_area = ?, retries = ?,
		rows_seen = ?, versions_added = ?, versions_closed = ?, note = ?, integrity_checked = ? WHERE id = ?`,
		formatTime(time.Now()), snap, cursorTime, st.AuditCursorID, st.APIRequests, areas, st.Retries,
		w.rowsSeen, w.added, w.closed, st.Note, checked, w.run.ID)
	if err != nil {
		w.Abort(err, st)
		return w.run, fmt.Errorf("commit run %d: %w", w.run.ID, explain(w.s.path, err))
	}
	for _, id := range st.AuditSeen {
		if _, err := w.tx.ExecContext(w.ctx, `INSERT OR IGNORE INTO audit_seen (run, entry_id) VALUES (?, ?)`, w.run.ID, id); err != nil {
			w.Abort(err, st)
			return w.run, fmt.Errorf("commit run %d: %w", w.run.ID, explain(w.s.path, err))
		}
	}
	if err := w.tx.Commit(); err != nil {
		w.s.markFailed(w.run.ID, err, st, time.Now())
		return w.run, fmt.Errorf("commit run %d: %w", w.run.ID, explain(w.s.path, err))
	}
	return w.s.Run(context.WithoutCancel(w.ctx), w.run.ID)
}

func usageJSON(st RunStats) string {
	if st.RequestsByArea == nil {
		return "{}"
	}
	b, _ := json.Marshal(st.RequestsByArea)
	return string(b)
}

// Abort discards the run's changes and records why it failed, with the
// requests it made (st's usage fields; the rest is ignored). Run then
// returns the run as recorded, so logs and summaries count what the store
// counts.
func (w *Writer) Abort(cause error, st RunStats) {
	_ = w.tx.Rollback()
	now := time.Now()
	msg := w.s.markFailed(w.run.ID, cause, st, now)
	w.run.Status, w.run.Error, w.run.FinishedAt = "failed", msg, &now
	w.run.APIRequests, w.run.RequestsByArea, w.run.Retries = st.APIRequests, st.RequestsByArea, st.Retries
}

func (s *Store) markFailed(id int64, cause error, st RunStats, now time.Time) string {
	msg := "aborted"
	if cause != nil {
		msg = cause.Error()
	}
	// The caller's context may be the reason for the failure; record it anyway.
	_, _ = s.db.ExecContext(context.Background(), `UPDATE runs SET status = 'failed', finished_at = ?, error = ?,
		api_requests = ?, requests_by_area = ?, retries = ? WHERE id = ? AND status = 'running'`,
		formatTime(now), msg, st.APIRequests, usageJSON(st), st.Retries, id)
	return msg
}
