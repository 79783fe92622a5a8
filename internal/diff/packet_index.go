package diff

import (
	"fmt"
	"strings"
	"time"
)

// index holds the old packet's copy of one table in memory, values
// interned: a packet's effective access can hold millions of rows that
// share few distinct values. The new packet's rows stream past it.
type index struct {
	t     *PacketTable
	in    *interner
	width int
	vals  []int32 // row i is vals[i*width : (i+1)*width]
	byKey map[uint64]int32
	used  []bool // matched by a row of the new packet
}

func loadIndex(t *PacketTable, r tableReader) (*index, error) {
	x := &index{t: t, in: newInterner(), width: len(t.Columns()), byKey: map[uint64]int32{}}
	err := readAll(r, func(row []string) error {
		n := int32(len(x.used))
		for _, v := range row {
			x.vals = append(x.vals, x.in.id(v))
		}
		k := x.key(x.vals[int(n)*x.width:])
		if _, dup := x.byKey[k]; dup {
			return fmt.Errorf("two rows with the key %s", joinKey(row[:len(t.Key)]...))
		}
		x.byKey[k] = n
		x.used = append(x.used, false)
		return nil
	})
	return x, err
}

// key packs the interned key values of a row; a key of more than two
// columns is interned whole.
func (x *index) key(ids []int32) uint64 {
	if len(x.t.Key) > 2 {
		return uint64(uint32(x.in.id(x.joined(ids))))
	}
	k := uint64(uint32(ids[0]))
	if len(x.t.Key) == 2 {
		k = k<<32 | uint64(uint32(ids[1]))
	}
	return k
}

// joined is a key of many columns as one string.
func (x *index) joined(ids []int32) string {
	parts := make([]string, len(x.t.Key))
	for i := range parts {
		parts[i] = x.in.names[ids[i]]
	}
	return "\x00key\x1f" + strings.Join(parts, "\x1f")
}

// find returns the old row with the key of row, if any.
func (x *index) find(row []string) (int32, bool) {
	var buf [4]int32 // the longest key of the contract
	ids := buf[:len(x.t.Key)]
	for i := range x.t.Key {
		id, ok := x.in.ids[row[i]]
		if !ok {
			return 0, false // a key value the old packet never held
		}
		ids[i] = id
	}
	if len(ids) > 2 {
		// Look the whole key up without interning it.
		id, ok := x.in.ids[x.joined(ids)]
		if !ok {
			return 0, false
		}
		n, ok := x.byKey[uint64(uint32(id))]
		return n, ok
	}
	n, ok := x.byKey[x.key(ids)]
	return n, ok
}

func (x *index) row(n int32) []string {
	out := make([]string, x.width)
	for i, id := range x.vals[int(n)*x.width : int(n+1)*x.width] {
		out[i] = x.in.names[id]
	}
	return out
}

// same reports whether old row n has the compared values of row.
func (x *index) same(n int32, row []string) bool {
	base := int(n) * x.width
	for i := len(x.t.Key); i < len(x.t.Key)+len(x.t.Compare); i++ {
		if x.in.names[x.vals[base+i]] != row[i] {
			return false
		}
	}
	return true
}

// tableDiff compares the new packet's rows with the old packet's index.
type tableDiff struct {
	t      *PacketTable
	old    *index
	out    []Change
	days   int
	tA, tB time.Time
}

func (d *tableDiff) add(row []string) error {
	key := joinKey(row[:len(d.t.Key)]...)
	n, found := d.old.find(row)
	if found && d.old.used[n] {
		return fmt.Errorf("two rows with the key %s", key)
	}
	var before []string
	if found {
		d.old.used[n] = true
		if d.t.Name != EntAccounts && d.old.same(n, row) {
			return nil
		}
		before = d.old.row(n)
	}
	switch d.t.Name {
	case EntEffectiveAccess:
		if !found {
			d.out = append(d.out, accessFromRow(AccessGained, d.t, row))
		}
	case EntAccounts:
		if !found || !d.old.same(n, row) {
			d.out = append(d.out, compareNamed(d.t, key, before, row)...)
		}
		d.dormant(key, before, row)
	default:
		d.out = append(d.out, compareNamed(d.t, key, before, row)...)
	}
	return nil
}

// finish reports the old rows no new row matched.
func (d *tableDiff) finish() {
	for n, used := range d.old.used {
		if used {
			continue
		}
		row := d.old.row(int32(n))
		if d.t.Name == EntEffectiveAccess {
			d.out = append(d.out, accessFromRow(AccessLost, d.t, row))
			continue
		}
		d.out = append(d.out, compareNamed(d.t, joinKey(row[:len(d.t.Key)]...), row, nil)...)
	}
}

func accessFromRow(kind string, t *PacketTable, row []string) Change {
	return Change{Kind: kind, Entity: EntEffectiveAccess, Key: joinKey(row[0], row[1]), Path: row[t.Col("path")], Fields: []Field{}}
}

// dormant adds the dormant change of an account, judged on each packet's
// own last access and snapshot time.
func (d *tableDiff) dormant(key string, before, after []string) {
	if d.days < 0 || d.tA.IsZero() || d.tB.IsZero() {
		return
	}
	if c, ok := becameDormant(key, d.activity(before), d.activity(after), d.tA, d.tB, d.days); ok {
		d.out = append(d.out, c)
	}
}

func (d *tableDiff) activity(row []string) activity {
	if row == nil {
		return activity{}
	}
	var x activity
	for i, c := range d.t.Compare {
		if c.Table == "entitlements" && row[len(d.t.Key)+i] != "" {
			x.entitled = true
		}
	}
	x.last, x.created = row[d.t.Col("last_accessed")], row[d.t.Col("date_created")]
	return x
}
