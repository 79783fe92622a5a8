package export

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// spool keeps rows of one table in a temporary file, to be read back once
// after: what one pass finds for a table written later (privileged access
// found while effective access streams) waits on disk, not in memory.
type spool struct {
	t   *Table
	f   *os.File
	w   *bufio.Writer
	n   int64
	buf []byte
}

func newSpool(t *Table) (*spool, error) {
	f, err := os.CreateTemp("", "export-spool-"+t.Name+"-*")
	if err != nil {
		return nil, fmt.Errorf("spool %s: %w", t.Name, err)
	}
	os.Remove(f.Name()) // gone when closed, whatever happens
	return &spool{t: t, f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

// Value tags.
const (
	spNull byte = iota
	spString
	spInt
	spFalse
	spTrue
	spTime
)

func (s *spool) Write(r Row) error {
	b, err := appendRow(s.buf[:0], r)
	if err != nil {
		return fmt.Errorf("spool %s: %w", s.t.Name, err)
	}
	s.buf = b
	s.n++
	_, err = s.w.Write(b)
	return err
}

// appendRow encodes a row as spools store it.
func appendRow(b []byte, r Row) ([]byte, error) {
	for _, v := range r {
		switch x := v.(type) {
		case nil:
			b = append(b, spNull)
		case string:
			b = append(b, spString)
			b = binary.AppendUvarint(b, uint64(len(x)))
			b = append(b, x...)
		case int64:
			b = append(b, spInt)
			b = binary.AppendVarint(b, x)
		case bool:
			if x {
				b = append(b, spTrue)
			} else {
				b = append(b, spFalse)
			}
		case time.Time:
			b = append(b, spTime)
			b = binary.AppendVarint(b, x.UnixMicro())
		default:
			return b, fmt.Errorf("unsupported value %T", v)
		}
	}
	return b, nil
}

// Replay hands every row written, in order, to fn, then closes the spool.
func (s *spool) Replay(fn func(Row) error) error {
	defer s.Close()
	if err := s.w.Flush(); err != nil {
		return err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r := bufio.NewReaderSize(s.f, 64<<10)
	width := len(s.t.Columns)
	for range s.n {
		row, err := readRow(r, width)
		if err != nil {
			return s.broken(err)
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return nil
}

// readRow decodes one row of width values that appendRow encoded.
func readRow(r *bufio.Reader, width int) (Row, error) {
	row := make(Row, width)
	for i := range row {
		tag, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		switch tag {
		case spNull:
		case spString:
			n, err := binary.ReadUvarint(r)
			if err != nil {
				return nil, err
			}
			b := make([]byte, n)
			if _, err := io.ReadFull(r, b); err != nil {
				return nil, err
			}
			row[i] = string(b)
		case spInt:
			v, err := binary.ReadVarint(r)
			if err != nil {
				return nil, err
			}
			row[i] = v
		case spFalse, spTrue:
			row[i] = tag == spTrue
		case spTime:
			v, err := binary.ReadVarint(r)
			if err != nil {
				return nil, err
			}
			row[i] = time.UnixMicro(v).UTC()
		default:
			return nil, fmt.Errorf("tag %d", tag)
		}
	}
	return row, nil
}

func (s *spool) broken(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("spool %s: read back: %w", s.t.Name, err)
}

// Close drops the spool.
func (s *spool) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
