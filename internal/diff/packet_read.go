package diff

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/ado-access/ado-access/internal/safecsv"
)

// tableReader streams the rows of one packet table as normalized values in
// PacketTable.Columns order. next returns io.EOF after the last row.
type tableReader interface {
	next() ([]string, error)
	Close() error
}

// openTable opens a packet's copy of t: Name.csv when there is one, else
// Name.parquet. found is false when the packet has neither.
func openTable(dir string, t *PacketTable) (r tableReader, found bool, err error) {
	for _, ext := range []string{".csv", ".parquet"} {
		path := filepath.Join(dir, t.Name+ext)
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, true, fmt.Errorf("open packet table: %w", err)
		}
		if ext == ".csv" {
			r, err = newCSVTable(f, t)
		} else {
			r, err = newParquetTable(f, t)
		}
		if err != nil {
			f.Close()
			return nil, true, fmt.Errorf("read %s: %w", path, err)
		}
		return r, true, nil
	}
	return nil, false, nil
}

// columnsAt finds the contract's columns among a file's: at[i] is the file
// column of t.Columns()[i], or -1 for a carried column the file lacks.
func columnsAt(t *PacketTable, lookup func(name string) int) ([]int, error) {
	cols := t.Columns()
	at := make([]int, len(cols))
	var missing []string
	for i, c := range cols {
		at[i] = lookup(c.Name)
		if at[i] < 0 && i < len(t.Key)+len(t.Compare) {
			missing = append(missing, c.Name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no column %s (a %s table needs %s)", strings.Join(missing, ", "), t.Name, strings.Join(names(cols[:len(t.Key)+len(t.Compare)]), ", "))
	}
	return at, nil
}

func names(cols []Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}

type csvTable struct {
	f    *os.File
	r    *csv.Reader
	cols []Column
	at   []int
}

func newCSVTable(f *os.File, t *PacketTable) (*csvTable, error) {
	r := csv.NewReader(f)
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff") // a spreadsheet's byte order mark
	}
	at, err := columnsAt(t, func(name string) int {
		for i, h := range header {
			if h == name {
				return i
			}
		}
		return -1
	})
	if err != nil {
		return nil, err
	}
	return &csvTable{f: f, r: r, cols: t.Columns(), at: at}, nil
}

func (c *csvTable) next() ([]string, error) {
	rec, err := c.r.Read()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(c.cols))
	for i, j := range c.at {
		v := ""
		if j >= 0 {
			v = safecsv.Unescape(rec[j])
		}
		out[i] = normalize(c.cols[i].Type, v)
	}
	return out, nil
}

func (c *csvTable) Close() error { return c.f.Close() }

type parquetTable struct {
	f      *os.File
	r      *parquet.Reader
	cols   []Column
	byLeaf map[int]int // file leaf column → position in t.Columns()
	units  map[int]time.Duration
	buf    []parquet.Row
	n, i   int
}

func newParquetTable(f *os.File, t *PacketTable) (*parquetTable, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, err
	}
	p := &parquetTable{f: f, cols: t.Columns(), byLeaf: map[int]int{}, units: map[int]time.Duration{}, buf: make([]parquet.Row, 256)}
	schema := pf.Schema()
	at, err := columnsAt(t, func(name string) int {
		leaf, ok := schema.Lookup(name)
		if !ok {
			return -1
		}
		if lt := leaf.Node.Type().LogicalType(); lt != nil {
			if ts, ok := lt.Value.(*format.TimestampType); ok && ts.Unit.Value != nil {
				p.units[leaf.ColumnIndex] = ts.Unit.Value.Duration()
			}
		}
		return leaf.ColumnIndex
	})
	if err != nil {
		return nil, err
	}
	for i, leaf := range at {
		if leaf >= 0 {
			p.byLeaf[leaf] = i
		}
	}
	if err := safely(func() { p.r = parquet.NewReader(pf) }); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *parquetTable) next() (row []string, err error) {
	// A packet comes from outside; parquet-go panics on some corrupt files.
	defer func() {
		if r := recover(); r != nil {
			row, err = nil, fmt.Errorf("corrupt Parquet file: %v", r)
		}
	}()
	if p.i == p.n {
		n, err := p.r.ReadRows(p.buf)
		if n == 0 {
			if err == nil {
				err = io.EOF
			}
			return nil, err
		}
		p.n, p.i = n, 0
	}
	values := p.buf[p.i]
	p.i++
	out := make([]string, len(p.cols))
	for _, v := range values {
		if i, ok := p.byLeaf[v.Column()]; ok {
			out[i] = p.text(v)
		}
	}
	for i, c := range p.cols {
		out[i] = normalize(c.Type, out[i])
	}
	return out, nil
}

// safely runs fn, turning a panic of parquet-go into an error.
func safely(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("corrupt Parquet file: %v", r)
		}
	}()
	fn()
	return nil
}

// text renders a Parquet value as the store writes it.
func (p *parquetTable) text(v parquet.Value) string {
	if v.IsNull() {
		return ""
	}
	switch v.Kind() {
	case parquet.Boolean:
		if v.Boolean() {
			return "1"
		}
		return "0"
	case parquet.Int32:
		return strconv.FormatInt(int64(v.Int32()), 10)
	case parquet.Int64:
		if unit, ok := p.units[v.Column()]; ok {
			// In seconds and the rest: far dates (an SSH key valid to
			// 9999-12-31) overflow a Duration in nanoseconds.
			perSec := int64(time.Second / unit)
			n := v.Int64()
			sec, rest := n/perSec, n%perSec
			if rest < 0 {
				sec, rest = sec-1, rest+perSec
			}
			return time.Unix(sec, rest*int64(unit)).UTC().Format(time.RFC3339Nano)
		}
		return strconv.FormatInt(v.Int64(), 10)
	case parquet.Float:
		return strconv.FormatFloat(float64(v.Float()), 'g', -1, 32)
	case parquet.Double:
		return strconv.FormatFloat(v.Double(), 'g', -1, 64)
	}
	return string(v.ByteArray())
}

func (p *parquetTable) Close() error {
	p.r.Close()
	return p.f.Close()
}
