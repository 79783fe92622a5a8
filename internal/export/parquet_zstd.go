package export

import (
	"sync"

	kzstd "github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/format"
)

// zstdCodec is Parquet's ZSTD codec with a 1 MiB window. Pages are a few
// hundred KiB before compression, so the library default (an 8 MiB window,
// and history buffers to match in every encoder) costs memory and gains
// nothing. One codec serves every writer; encoders are pooled.
type zstdCodec struct {
	enc sync.Pool // *kzstd.Encoder
	dec sync.Pool // *kzstd.Decoder
}

var parquetZstd = &zstdCodec{}

func (c *zstdCodec) String() string                            { return "ZSTD" }
func (c *zstdCodec) CompressionCodec() format.CompressionCodec { return format.Zstd }

func (c *zstdCodec) Encode(dst, src []byte) ([]byte, error) {
	e, _ := c.enc.Get().(*kzstd.Encoder)
	if e == nil {
		var err error
		e, err = kzstd.NewWriter(nil, kzstd.WithEncoderLevel(kzstd.SpeedDefault), kzstd.WithWindowSize(1<<20),
			kzstd.WithEncoderConcurrency(1), kzstd.WithZeroFrames(true), kzstd.WithEncoderCRC(false))
		if err != nil {
			return nil, err
		}
	}
	out := e.EncodeAll(src, dst[:0])
	c.enc.Put(e)
	return out, nil
}

func (c *zstdCodec) Decode(dst, src []byte) ([]byte, error) {
	d, _ := c.dec.Get().(*kzstd.Decoder)
	if d == nil {
		var err error
		d, err = kzstd.NewReader(nil, kzstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
	}
	out, err := d.DecodeAll(src, dst[:0])
	c.dec.Put(d)
	return out, err
}
