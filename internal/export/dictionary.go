package export

import (
	"encoding/json"
	"sync"
)

// SchemaName is the data dictionary's file: schema.json, beside every
// packet's manifest and in every warehouse manifest folder.
const SchemaName = "schema.json"

// DataDictionary describes the tables of an export: their columns, types,
// nullability, keys and descriptions. It is generated from the table
// definitions the writers use (tables.go), so it cannot drift from the
// files; each Parquet file carries its table's entry too
// (ado_access.schema in its key-value metadata).
type DataDictionary struct {
	SchemaVersion int    `json:"schema_version"`
	Kind          string `json:"kind"` // packet or warehouse
	// Partitioning is the warehouse's Hive layout and its partition
	// columns, which readers add to every table.
	Partitioning *Partitioning  `json:"partitioning,omitempty"`
	Tables       []*TableSchema `json:"tables"`
}

// Partitioning is how a warehouse export lays out its files.
type Partitioning struct {
	Layout  string          `json:"layout"`
	Columns []*ColumnSchema `json:"columns"`
}

// TableSchema is one table of the data dictionary.
type TableSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Key         []string        `json:"key"`
	Columns     []*ColumnSchema `json:"columns"`
	// ReviewColumns follow the table's columns on its workbook sheet, for
	// the reviewer to fill in.
	ReviewColumns []string `json:"review_columns,omitempty"`
}

// ColumnSchema is one column of the data dictionary.
type ColumnSchema struct {
	Name        string `json:"name"`
	Type        string `json:"type"`    // string, int64, bool or timestamp; date for the snapshot_date partition column
	Parquet     string `json:"parquet"` // its Parquet physical (logical) type
	Nullable    bool   `json:"nullable"`
	Description string `json:"description"`
}

// parquetTypes name each Type's Parquet physical and logical type.
var parquetTypes = map[Type]string{
	String:    "BYTE_ARRAY (STRING)",
	Int64:     "INT64",
	Bool:      "BOOLEAN",
	Timestamp: "INT64 (TIMESTAMP(MICROS, UTC))",
}

// Schema is the table's entry of the data dictionary.
func (t *Table) Schema() *TableSchema {
	s := &TableSchema{Name: t.Name, Description: t.Doc, Key: t.Key}
	if s.Key == nil {
		s.Key = []string{}
	}
	for _, c := range t.Columns {
		s.Columns = append(s.Columns, &ColumnSchema{Name: c.Name, Type: c.Type.String(), Parquet: parquetTypes[c.Type], Nullable: c.Nullable, Description: c.Doc})
	}
	if t.Review {
		s.ReviewColumns = []string{DecisionColumn, ReviewerColumn, CommentColumn}
	}
	return s
}

var tableSchemas sync.Map // *Table -> []byte

// tableSchemaJSON is the table's entry of the data dictionary as JSON, for
// the Parquet file's key-value metadata.
func tableSchemaJSON(t *Table) []byte {
	if b, ok := tableSchemas.Load(t); ok {
		return b.([]byte)
	}
	b, _ := json.Marshal(t.Schema())
	tableSchemas.Store(t, b)
	return b
}

// packetDictionary is a packet's schema.json.
func packetDictionary(tables []*Table) *DataDictionary {
	d := &DataDictionary{SchemaVersion: SchemaVersion, Kind: "packet"}
	for _, t := range tables {
		d.Tables = append(d.Tables, t.Schema())
	}
	return d
}

// warehouseDictionary is a warehouse export's schema.json.
func warehouseDictionary(layout string, byRun bool) *DataDictionary {
	d := &DataDictionary{SchemaVersion: SchemaVersion, Kind: "warehouse", Partitioning: &Partitioning{Layout: layout}}
	for _, c := range partitionColumns {
		if c.Name == "run" && !byRun {
			continue
		}
		d.Partitioning.Columns = append(d.Partitioning.Columns, &ColumnSchema{Name: c.Name, Type: c.Type.String(), Description: c.Doc})
	}
	for _, t := range WarehouseTables {
		d.Tables = append(d.Tables, warehouseTable(t).Schema())
	}
	return d
}

func (d *DataDictionary) encode() ([]byte, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
