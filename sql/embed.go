// Package sql embeds the snapshot store's schema migrations and named
// queries. It holds no logic: internal/snapshot applies the migrations in
// order and loads the queries by name.
package sql

import "embed"

// Files holds migrations/NNNN_name.sql and queries/*.sql.
//
//go:embed migrations/*.sql queries/*.sql
var Files embed.FS
