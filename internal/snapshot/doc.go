// Package snapshot is the SQLite store that every other part reads or writes
// through: the schema (migrations from sql/), runs (one sync of one
// organization, visible only once committed), entity tables with validity
// intervals (valid_from/valid_to run IDs, so storage grows with changes, not
// with runs), the snapshot-at-run views, and the locking that keeps two runs
// from writing at once. It never calls the network.
package snapshot
