package export

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// chunkPages is what the page headers of one column chunk say, read from
// the file's bytes with the Thrift decoder (not from the writer's own
// bookkeeping in the footer).
type chunkPages struct {
	types     []format.PageType
	encodings []format.Encoding // of each data or dictionary page
	defLevels []format.Encoding // definition-level encoding of each data page
}

// readPageHeaders walks every page header of every column chunk of a
// Parquet file; out[column] holds one entry per row group.
func readPageHeaders(t testing.TB, data []byte) (*parquet.File, map[string][]chunkPages) {
	t.Helper()
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]chunkPages{}
	for _, rg := range pf.Metadata().RowGroups {
		for _, cc := range rg.Columns {
			md := cc.MetaData
			start := md.DataPageOffset
			if md.DictionaryPageOffset > 0 && md.DictionaryPageOffset < start {
				start = md.DictionaryPageOffset
			}
			end := start + md.TotalCompressedSize
			r := bytes.NewReader(data[start:end])
			dec := thrift.NewDecoder((&thrift.CompactProtocol{}).NewReader(r))
			var cp chunkPages
			for r.Len() > 0 {
				var h format.PageHeader
				if err := dec.Decode(&h); err != nil {
					t.Fatalf("column %v: page header: %v", md.PathInSchema, err)
				}
				cp.types = append(cp.types, h.Type)
				switch h.Type {
				case format.DictionaryPage:
					cp.encodings = append(cp.encodings, h.DictionaryPageHeader.V.Encoding)
				case format.DataPage:
					cp.encodings = append(cp.encodings, h.DataPageHeader.V.Encoding)
					cp.defLevels = append(cp.defLevels, h.DataPageHeader.V.DefinitionLevelEncoding)
				case format.DataPageV2:
					cp.encodings = append(cp.encodings, h.DataPageHeaderV2.V.Encoding)
				}
				if _, err := r.Seek(int64(h.CompressedPageSize), io.SeekCurrent); err != nil {
					t.Fatal(err)
				}
			}
			name := strings.Join(md.PathInSchema, ".")
			out[name] = append(out[name], cp)
		}
	}
	return pf, out
}

// assertParquetForOldReaders checks a file written for table tdef the way
// an old vectorized reader needs it: data page v1 only; strings
// dictionary-encoded (a dictionary page in PLAIN, data pages in
// RLE_DICTIONARY, or PLAIN after the dictionary outgrew its bound) but for
// a single key column, which is PLAIN; every other column PLAIN; nullable
// columns OPTIONAL with RLE definition levels, others REQUIRED; zstd; an
// honest created_by; the table's data dictionary entry in the metadata.
func assertParquetForOldReaders(t testing.TB, tdef *Table, data []byte, createdBy string) {
	t.Helper()
	pf, pages := readPageHeaders(t, data)
	md := pf.Metadata()
	if md.CreatedBy != createdBy {
		t.Fatalf("%s: created_by %q, want %q", tdef.Name, md.CreatedBy, createdBy)
	}
	elems := map[string]format.SchemaElement{}
	for _, e := range md.Schema[1:] {
		elems[e.Name] = e
	}
	dictionaryPages := 0
	for _, c := range tdef.Columns {
		e, ok := elems[c.Name]
		if !ok {
			t.Fatalf("%s: no column %s in the file's schema", tdef.Name, c.Name)
		}
		want := format.Required
		if c.Nullable {
			want = format.Optional
		}
		if !e.RepetitionType.Valid || e.RepetitionType.V != want {
			t.Fatalf("%s.%s: repetition %v, want %v", tdef.Name, c.Name, e.RepetitionType, want)
		}
		dict := c.Type == String && !(len(tdef.Key) == 1 && tdef.Key[0] == c.Name)
		for _, cp := range pages[c.Name] {
			for i, typ := range cp.types {
				enc := cp.encodings[i]
				switch typ {
				case format.DataPageV2:
					t.Fatalf("%s.%s: a DATA_PAGE_V2", tdef.Name, c.Name)
				case format.DictionaryPage:
					dictionaryPages++
					if !dict || enc != format.Plain {
						t.Fatalf("%s.%s: a dictionary page (%v) where none belongs", tdef.Name, c.Name, enc)
					}
				case format.DataPage:
					ok := enc == format.Plain || dict && enc == format.RLEDictionary
					if !ok {
						t.Fatalf("%s.%s: data page encoded %v", tdef.Name, c.Name, enc)
					}
				default:
					t.Fatalf("%s.%s: page type %v", tdef.Name, c.Name, typ)
				}
			}
			if dict && len(cp.types) > 0 && cp.types[0] != format.DictionaryPage {
				t.Fatalf("%s.%s: a string column without a dictionary page: %v", tdef.Name, c.Name, cp.types)
			}
			for _, d := range cp.defLevels {
				if c.Nullable && d != format.RLE {
					t.Fatalf("%s.%s: definition levels encoded %v", tdef.Name, c.Name, d)
				}
			}
		}
	}
	if pf.NumRows() > 0 && dictionaryPages == 0 && slices.ContainsFunc(tdef.Columns, func(c Column) bool { return c.Type == String }) {
		t.Fatalf("%s: no dictionary page at all", tdef.Name)
	}
	for _, rg := range md.RowGroups {
		for _, cc := range rg.Columns {
			if cc.MetaData.Codec != format.Zstd {
				t.Fatalf("%s: codec %v", tdef.Name, cc.MetaData.Codec)
			}
		}
	}
	raw, ok := pf.Lookup("ado_access.schema")
	var entry TableSchema
	if !ok || json.Unmarshal([]byte(raw), &entry) != nil || entry.Name != tdef.Name || len(entry.Columns) != len(tdef.Columns) {
		t.Fatalf("%s: ado_access.schema %q", tdef.Name, raw)
	}
	for i, c := range tdef.Columns {
		if e := entry.Columns[i]; e.Name != c.Name || e.Nullable != c.Nullable || e.Description != c.Doc || e.Type != c.Type.String() {
			t.Fatalf("%s: ado_access.schema column %d is %+v, want %+v", tdef.Name, i, e, c)
		}
	}
}

// The packet's Parquet files take old readers: v1 pages, dictionaries,
// nullability per column, created_by naming the build.
func TestPacketParquetForOldReaders(t *testing.T) {
	f := storeFixture(t, "small")
	dir := t.TempDir()
	m, err := ExportPacket(context.Background(), f.st, NewLocalSink(dir), PacketOptions{Options: Options{Version: "v1.2.3", Commit: "0123abc"}, Formats: []string{FormatParquet}})
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range m.Files {
		if file.Format != FormatParquet {
			continue
		}
		assertParquetForOldReaders(t, TableByName(file.Table), dirReader{dir}.read(t, file.Path), "ado-access exporter version v1.2.3 (build 0123abc)")
	}
	if got := parquetCreatedBy("", ""); got != "ado-access exporter version dev" {
		t.Fatalf("unstamped created_by %q", got)
	}
}
