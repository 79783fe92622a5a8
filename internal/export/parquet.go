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

// parquetWriter writes one table as a Parquet file: one flat schema with
// the table's columns in order, typed (string: UTF-8 byte array; int64;
// boolean; timestamp: int64 microseconds, adjusted to UTC), nullable
// columns optional, every column zstd-compressed.
type parquetWriter struct {
	t     *Table
	pw    *parquet.GenericWriter[any]
	batch []parquet.Row
	defs  []int // definition level of a present value, per column
}

// parquetBatch is how many rows go to the writer at once.
const parquetBatch = 512

func newParquetWriter(w io.Writer, t *Table, meta map[string]string) *parquetWriter {
	opts := []parquet.WriterOption{
		ParquetSchema(t),
		parquet.Compression(parquetZstd),
		parquet.MaxRowsPerRowGroup(parquetRowGroupRows),
		parquet.CreatedBy("ado-access exporter", "", ""),
	}
	for k, v := range meta {
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
