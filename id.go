package fieldsync

import (
	"crypto/rand"
	"encoding/binary"
	"time"
)

// crockford is Crockford's base32 alphabet: no I, L, O, U, so ids read
// aloud or copied by hand stay unambiguous.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewID mints a globally unique row id without coordination: 48 bits of
// millisecond time followed by 80 random bits, written as 26 characters of
// Crockford base32 (the ULID layout). Any node can mint ids offline; two ids
// collide only if the same millisecond draws the same 80 random bits. Ids
// minted later sort later, which keeps paging and indexes tidy.
func NewID() string {
	return newIDAt(time.Now())
}

func newIDAt(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	rand.Read(b[6:]) // never fails since Go 1.24
	// 128 bits -> 26 base32 digits (130 bits, top two bits zero).
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
