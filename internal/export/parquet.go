package export

import (
	"fmt"
	"io"
	"reflect"
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Row groups hold at most this many rows, which bounds the memory a writer
// holds (a row group's pages are kept until it is written out).
const parquetRowGroupRows = 128 * 1024

// Parquet is written for the widest range of readers, old vectorized ones
// (Spark, Presto/Velox, Iceberg, Synapse and Databricks runtimes in the
// field) included: data page v1, PLAIN encoding, and RLE_DICTIONARY for the
// string columns whose values repeat (every string column but a table's
// single key column). A column whose dictionary outgrows
// parquetDictionaryMaxBytes falls back to PLAIN for the rest of its row
// group, so a column of mostly distinct values costs no more than before.
const (
	parquetDataPageVersion    = 1
	parquetDictionaryMaxBytes = 1 << 20
)

// parquetWriter writes one table as a Parquet file: one flat schema with
// the table's columns in order, typed (string: UTF-8 byte array; int64;
// boolean; timestamp: int64 microseconds, adjusted to UTC), nullable
// columns optional, every column zstd-compressed. The file's key-value
// metadata carries the export's (meta) and the table's entry of the data
// dictionary (ado_access.schema: its columns with their types,
// nullability and descriptions).
type parquetWriter struct {
	t     *Table
	pw    *parquet.GenericWriter[any]
	batch []parquet.Row
	defs  []int // definition level of a present value, per column
}

// parquetBatch is how many rows go to the writer at once.
const parquetBatch = 512

// parquetFile is what every Parquet file of one export shares.
type parquetFile struct {
	meta      map[string]string // key-value metadata
	createdBy string            // the footer's created_by
}

func newParquetWriter(w io.Writer, t *Table, pf parquetFile) *parquetWriter {
	opts := []parquet.WriterOption{
		ParquetSchema(t),
		parquet.Compression(parquetZstd),
		parquet.MaxRowsPerRowGroup(parquetRowGroupRows),
		parquet.DataPageVersion(parquetDataPageVersion),
		parquet.DefaultEncoding(&parquet.Plain),
		parquet.DictionaryMaxBytes(parquetDictionaryMaxBytes),
		// parquet.CreatedBy leaves out the space before "(build …)".
		&parquet.WriterConfig{CreatedBy: pf.createdBy},
		parquet.KeyValueMetadata("ado_access.table", t.Name),
		parquet.KeyValueMetadata("ado_access.schema", string(tableSchemaJSON(t))),
	}
	for k, v := range pf.meta {
		opts = append(opts, parquet.KeyValueMetadata(k, v))
	}
	p := &parquetWriter{t: t, pw: parquet.NewGenericWriter[any](w, opts...), defs: make([]int, len(t.Columns))}
	for i, c := range t.Columns {
		if c.Nullable {
			p.defs[i] = 1
		}
	}
	return p
}

func (p *parquetWriter) Write(r Row) error {
	row := make(parquet.Row, len(r))
	for i, v := range r {
		var pv parquet.Value
		switch x := v.(type) {
		case nil:
			row[i] = parquet.NullValue().Level(0, 0, i)
			continue
		case string:
			pv = parquet.ByteArrayValue([]byte(x))
		case int64:
			pv = parquet.Int64Value(x)
		case bool:
			pv = parquet.BooleanValue(x)
		case time.Time:
			pv = parquet.Int64Value(x.UnixMicro())
		default:
			return fmt.Errorf("parquet %s: unsupported value %T", p.t.Name, v)
		}
		row[i] = pv.Level(0, p.defs[i], i)
	}
	p.batch = append(p.batch, row)
	if len(p.batch) == parquetBatch {
		return p.flush()
	}
	return nil
}

func (p *parquetWriter) flush() error {
	if len(p.batch) == 0 {
		return nil
	}
	_, err := p.pw.WriteRows(p.batch)
	clear(p.batch)
	p.batch = p.batch[:0]
	if err != nil {
		return fmt.Errorf("parquet %s: %w", p.t.Name, err)
	}
	return nil
}

// Close writes what is left and the file footer; it does not close the
// underlying writer.
func (p *parquetWriter) Close() error {
	if err := p.flush(); err != nil {
		return err
	}
	if err := p.pw.Close(); err != nil {
		return fmt.Errorf("parquet %s: %w", p.t.Name, err)
	}
	return nil
}

var parquetSchemas sync.Map // *Table -> *parquet.Schema

// dictionaryEncoded reports whether a column's Parquet values are
// dictionary-encoded: strings, but for a single key column, whose values
// are all distinct.
func dictionaryEncoded(t *Table, c Column) bool {
	return c.Type == String && !(len(t.Key) == 1 && t.Key[0] == c.Name)
}

// parquetCreatedBy is the created_by of the files this build writes, in the
// form the Parquet spec gives ("<application> version <version> (build
// <build>)"), which readers parse to know a writer's quirks.
func parquetCreatedBy(version, commit string) string {
	if version == "" {
		version = "dev"
	}
	s := "ado-access exporter version " + version
	if commit != "" {
		s += " (build " + commit + ")"
	}
	return s
}

// ParquetSchema is the Parquet schema of a table: its columns in order
// (a Go struct type built from the table keeps that order, where a
// parquet.Group would sort them by name).
func ParquetSchema(t *Table) *parquet.Schema {
	if s, ok := parquetSchemas.Load(t); ok {
		return s.(*parquet.Schema)
	}
	fields := make([]reflect.StructField, len(t.Columns))
	for i, c := range t.Columns {
		var typ reflect.Type
		tag := c.Name
		switch c.Type {
		case String:
			typ = reflect.TypeFor[string]()
			if dictionaryEncoded(t, c) {
				tag += ",dict"
			}
		case Int64:
			typ = reflect.TypeFor[int64]()
		case Bool:
			typ = reflect.TypeFor[bool]()
		case Timestamp:
			typ = reflect.TypeFor[time.Time]()
			tag += ",timestamp(microsecond)"
		}
		if c.Nullable {
			typ = reflect.PointerTo(typ)
			if c.Type != Timestamp {
				tag += ",optional"
			}
		}
		fields[i] = reflect.StructField{
			Name: fmt.Sprintf("C%d", i),
			Type: typ,
			Tag:  reflect.StructTag(`parquet:"` + tag + `"`),
		}
	}
	s := parquet.SchemaOf(reflect.New(reflect.StructOf(fields)).Interface())
	s = parquet.NewSchema(t.Name, s)
	parquetSchemas.Store(t, s)
	return s
}
