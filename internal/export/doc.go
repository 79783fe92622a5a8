// Package export writes what the snapshot store holds for people and
// warehouses, and never re-queries Azure DevOps.
//
// A review packet (ExportPacket) is one folder or blob prefix per review:
// {table}.csv and {table}.parquet for every table of PacketTables, the
// workbook packet.xlsx (a Summary sheet, then one sheet per table, with a
// Decision drop-down and Reviewer and Comment columns on the review
// sheets), and manifest.json, written last, listing every file with its
// rows and SHA-256 and naming the run it came from. Verify checks a packet
// or warehouse export against its manifest.
//
// A warehouse export (ExportWarehouse) writes the same tables as Parquet
// in Hive-style partitions, {table}/org={org}/snapshot_date={date}/part-00000.parquet,
// then _manifests/org={org}/snapshot_date={date}/manifest.json and a
// _SUCCESS marker beside it. Re-running for the same date replaces the
// partition.
//
// Tables (tables.go) are the documented, stable schemas (SchemaVersion).
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
// (RFC 4180, UTF-8, CRLF, a header, stable column order), parquet.go
// (typed, zstd, row groups of 128k rows) and xlsx.go (excelize's stream
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
// whole or not at all, the manifest or _SUCCESS is written last, and
// re-running replaces, never duplicates.
package export
