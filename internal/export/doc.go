// Package export writes what the snapshot store holds for people and
// warehouses, and never re-queries Azure DevOps.
//
// A review packet (ExportPacket) is one folder or blob prefix per review:
// {table}.csv and {table}.parquet for every table of PacketTables, the
// workbook packet.xlsx (a Summary sheet, then one sheet per table, with a
// Decision drop-down and Reviewer and Comment columns on the review
// sheets, and a Columns sheet), schema.json (the data dictionary), and
// manifest.json, written last, listing every file with its rows and
// SHA-256 and naming the run it came from. Verify checks a packet or
// warehouse export against its manifest.
//
// A warehouse export (ExportWarehouse) writes the same tables as Parquet,
// each led by the run identity columns (org_id, run_id, snapshot_time), in
// Hive-style partitions keyed by the organization's name and id,
// {table}/org={org}/org_id={id}/snapshot_date={date}[/run={run}]/part-{run}-{n}.parquet,
// then schema.json, manifest.json and a _SUCCESS marker in
// _manifests/{the partition}. A run's files have names of their own, so
// replacing a date's partition with another run publishes the new run
// before removing the old one.
//
// Tables (tables.go) are the documented, stable schemas (SchemaVersion),
// with their keys and nullability; schema.json, the Columns sheet and each
// Parquet file's metadata are generated from them.
// Rows come from the store in key order: accounts, groups and the other
// entity tables through the named queries of sql/queries/export.sql;
// effective access through internal/diff.Effective; privileged access,
// findings and changes (internal/diff.Between, or diff.Packets against an
// earlier packet) are derived on the way. Each table streams once, fanned
// out to every format; nothing the size of an organization is held in
// memory (what a later table needs, such as privileged access found while
// effective access streams, waits in a temporary file).
//
// One writer per format serves packets and warehouse alike: csv.go
// (RFC 4180, UTF-8, CRLF, a header, stable column order, a byte-order mark
// on request), parquet.go (typed, nullable where the schema says, data
// page v1, dictionary-encoded strings, zstd, row groups of 128k rows) and
// xlsx.go (excelize's stream
// writer, a sheet per table continued on "name (2)" past Excel's row
// limit).
//
// Values from Azure DevOps are untrusted. In CSV, a value a spreadsheet
// would evaluate (see internal/safecsv, the one CSV writer of the product)
// is written with a leading apostrophe so that no spreadsheet evaluates
// it, and internal/diff strips one leading apostrophe when it reads a
// packet. In the workbook every string is a plain inline string,
// never a formula or a hyperlink, whatever it begins with. Parquet holds
// the values as they are.
//
// Output goes to a Sink (sink.go states the contract): a local folder, or
// Azure Blob Storage through azblob and azidentity. Files become visible
// whole or not at all, the manifest or _SUCCESS is committed after every
// file it lists, what an export replaces goes only after that, and
// re-running replaces, never duplicates.
package export
