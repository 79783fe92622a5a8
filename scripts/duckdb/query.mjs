// Runs SQL statements with DuckDB and prints their results as JSON: reads a
// JSON array of statements on stdin, writes a JSON array with one array of
// row objects per statement (64-bit integers as strings). The warehouse
// tests read exports with it (see internal/duckdb).
import { DuckDBInstance } from '@duckdb/node-api';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const statements = JSON.parse(input);
const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
const conn = await instance.connect();
const out = [];
for (const sql of statements) {
  const reader = await conn.runAndReadAll(sql);
  out.push(reader.getRowObjectsJson());
}
process.stdout.write(JSON.stringify(out));
