// Package export writes what the snapshot store holds for people and
// warehouses: review packets for auditors (CSV files and an XLSX workbook
// with a Decision column), warehouse Parquet with stable schemas and
// Hive-style partitions, and the manifest that lists every file with its row
// count and SHA-256 and is written last. Output goes to a sink (a local folder
// or Azure Blob Storage); re-running replaces, never duplicates. It never
// re-queries Azure DevOps.
package export
