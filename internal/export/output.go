package export

import (
	"context"
	"fmt"
)

// rowWriter is one table being written in one format.
type rowWriter interface {
	Write(Row) error
	Close() error // ends the table; never closes the file underneath
}

// part is one destination of a table: a file of the sink (CSV or
// Parquet), with the digest that the manifest gets, or a sheet of the
// workbook (no file of its own). Each part writes in a goroutine of its
// own, so that encoding (CSV, Parquet and XLSX, and their compression)
// runs beside the reading of the store.
type part struct {
	format string
	name   string // the file's name in the sink; "" for a sheet
	w      rowWriter
	file   SinkFile
	dig    *digest

	batches chan []Row
	done    chan struct{}
	err     error // set before done closes
}

// batchRows is how many rows travel to the parts together; partQueue is
// how many batches a part may fall behind before the reader waits.
const (
	batchRows = 256
	partQueue = 8
)

func (p *part) run() {
	defer close(p.done)
	for b := range p.batches {
		if p.err != nil {
			continue // drain, so that the reader never blocks on a failed part
		}
		for _, r := range b {
			if err := p.w.Write(r); err != nil {
				p.err = err
				break
			}
		}
	}
}

// tableOut fans one table's rows out to every part. With src set, the job
// produces src's rows and each is written as prefix followed by the row
// (the warehouse's run identity columns before a table's own).
type tableOut struct {
	t       *Table
	src     *Table
	prefix  Row
	parts   []*part
	rows    int64
	batch   []Row
	started bool
}

func (o *tableOut) start() {
	o.started = true
	for _, p := range o.parts {
		p.batches = make(chan []Row, partQueue)
		p.done = make(chan struct{})
		go p.run()
	}
}

func (o *tableOut) Write(r Row) error {
	if o.prefix != nil {
		r = append(o.prefix[:len(o.prefix):len(o.prefix)], r...)
	}
	if err := o.t.check(r); err != nil {
		return err
	}
	if !o.started {
		o.start()
	}
	o.batch = append(o.batch, r)
	o.rows++
	if len(o.batch) == batchRows {
		return o.send()
	}
	return nil
}

// send hands the batch to every part (they only read it).
func (o *tableOut) send() error {
	for _, p := range o.parts {
		select {
		case <-p.done:
			return fmt.Errorf("write %s: %w", o.t.Name, p.err)
		default:
		}
		p.batches <- o.batch
	}
	o.batch = make([]Row, 0, batchRows)
	return nil
}

// wait sends what is left, lets every part finish, and returns the first
// part's error.
func (o *tableOut) wait() error {
	if !o.started {
		o.start()
	}
	var err error
	if len(o.batch) > 0 {
		err = o.send()
	}
	for _, p := range o.parts {
		close(p.batches)
	}
	for _, p := range o.parts {
		<-p.done
		if p.err != nil && err == nil {
			err = fmt.Errorf("write %s: %w", o.t.Name, p.err)
		}
	}
	return err
}

// addFile starts a file of the table in the sink, written by newWriter.
func (o *tableOut) addFile(ctx context.Context, s Sink, format, name string, newWriter func(*digest) (rowWriter, error)) error {
	f, err := s.Create(ctx, name)
	if err != nil {
		return err
	}
	dig := newDigest(f)
	w, err := newWriter(dig)
	if err != nil {
		f.Abort()
		return err
	}
	o.parts = append(o.parts, &part{format: format, name: name, w: w, file: f, dig: dig})
	return nil
}

// commit ends every part and commits every file, returning the files for
// the manifest.
func (o *tableOut) commit() ([]File, error) {
	files, staged, err := o.stage()
	if err != nil {
		return nil, err
	}
	for i, f := range staged {
		if err := f.Commit(); err != nil {
			abortAll(staged[i+1:])
			return nil, fmt.Errorf("write %s: %w", o.t.Name, err)
		}
	}
	return files, nil
}

// stage ends every part and stages every file, returning the files for
// the manifest and the staged files, for the caller to commit or abort.
func (o *tableOut) stage() ([]File, []SinkFile, error) {
	if err := o.wait(); err != nil {
		o.abortFiles()
		return nil, nil, err
	}
	var files []File
	var staged []SinkFile
	for i, p := range o.parts {
		err := p.w.Close()
		if p.file != nil {
			if err != nil {
				p.file.Abort()
			} else {
				err = p.file.Stage()
			}
		}
		if err != nil {
			abortAll(staged)
			for _, q := range o.parts[i+1:] {
				if q.file != nil {
					q.file.Abort()
				}
			}
			return nil, nil, fmt.Errorf("write %s: %w", o.t.Name, err)
		}
		if p.file != nil {
			files = append(files, File{Path: p.name, Table: o.t.Name, Format: p.format, Rows: o.rows, Bytes: p.dig.n, SHA256: p.dig.sum()})
			staged = append(staged, p.file)
		}
	}
	return files, staged, nil
}

func abortAll(fs []SinkFile) {
	for _, f := range fs {
		f.Abort()
	}
}

// abort stops every part and discards every file.
func (o *tableOut) abort() {
	if o.started {
		_ = o.wait()
	}
	o.abortFiles()
}

func (o *tableOut) abortFiles() {
	for _, p := range o.parts {
		if p.file != nil {
			p.file.Abort()
		}
	}
}

// produceTo streams one table of the job into out, which commits on
// success and aborts on failure.
func (j *job) produceTo(ctx context.Context, out *tableOut) ([]File, error) {
	if err := j.produceInto(ctx, out); err != nil {
		return nil, err
	}
	return out.commit()
}

// stageTo streams one table of the job into out and stages its files,
// which the caller commits or aborts; it aborts them itself on failure.
func (j *job) stageTo(ctx context.Context, out *tableOut) ([]File, []SinkFile, error) {
	if err := j.produceInto(ctx, out); err != nil {
		return nil, nil, err
	}
	return out.stage()
}

func (j *job) produceInto(ctx context.Context, out *tableOut) error {
	t := out.t
	if out.src != nil {
		t = out.src
	}
	if err := j.produce(ctx, t, out.Write); err != nil {
		out.abort()
		return err
	}
	return nil
}
