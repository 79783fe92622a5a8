#!/usr/bin/env bash
# DuckDB, through its Node API, as an independent reader of the warehouse
# export in integration tests (Hive-partitioned Parquet read the way a data
# engineer would). Pinned to @duckdb/node-api@1.5.6-r.1 (runs on Node 20)
# with every dependency locked in scripts/duckdb/package-lock.json;
# installed into .tools/duckdb (gitignored), never globally, beside
# scripts/duckdb/query.mjs, the script the tests run.
#
#   scripts/duckdb.sh install   install (or check) it; prints the query script
#   scripts/duckdb.sh bin       print the query script's path (fails if not installed)
#   scripts/duckdb.sh status    say whether the DuckDB tests could find it
#                               (make test prints this last)
#   scripts/duckdb.sh query SQL run one statement, print its rows as JSON
#
# Tests find it through DUCKDB_QUERY or in .tools/duckdb; without it they
# skip, unless DUCKDB_REQUIRED=1 (as .ci/run sets it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.tools/duckdb"
script="$dir/query.mjs"
want=1.5.6-r.1
# shellcheck source=npm-pinned.sh
. "$root/scripts/npm-pinned.sh"

installed() {
	[[ -f "$script" ]] && [[ "$(node -p "require('$dir/node_modules/@duckdb/node-api/package.json').version" 2>/dev/null)" == "$want" ]] &&
		cmp -s "$root/scripts/duckdb/package-lock.json" "$dir/package-lock.json" &&
		cmp -s "$root/scripts/duckdb/query.mjs" "$script"
}

install() {
	if installed; then
		echo "$script"
		return
	fi
	npm_pinned_install duckdb "@duckdb/node-api@$want" "$root/scripts/duckdb" "$dir" package.json package-lock.json query.mjs
	installed || { echo "duckdb: installed, but $dir does not hold @duckdb/node-api $want" >&2; exit 1; }
	echo "$script"
}

case "${1:-}" in
install)
	install
	;;
bin)
	installed || { echo "duckdb: not installed; run scripts/duckdb.sh install" >&2; exit 1; }
	echo "$script"
	;;
status)
	if [[ -n "${DUCKDB_QUERY:-}" && -f "${DUCKDB_QUERY}" ]] || installed; then
		echo "DuckDB: found; the warehouse reader tests ran."
	else
		echo "NOTE: DuckDB is not installed, so the DuckDB warehouse tests were SKIPPED."
		echo "      Install it with 'scripts/duckdb.sh install' (needs Node 20 and npm), or run .ci/run."
	fi
	;;
query)
	installed || { echo "duckdb: not installed; run scripts/duckdb.sh install" >&2; exit 1; }
	[[ $# -eq 2 ]] || { echo "usage: $0 query SQL" >&2; exit 2; }
	node -e 'process.stdout.write(JSON.stringify([process.argv[1]]))' "$2" | node "$script"
	echo
	;;
*)
	echo "usage: $0 install|bin|status|query SQL" >&2
	exit 2
	;;
esac
