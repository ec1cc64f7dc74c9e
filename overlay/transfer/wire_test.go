package transfer

import (
	"bytes"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/xnode/xnode/block"
)

func TestRequestEncodingRoundTrip(t *testing.T) {
	b := block.NewRaw([]byte("some bytes"))
	c2 := block.NewRaw([]byte("other")).CID
	for _, tc := range []struct {
		name    string
		payload []byte
		want    request
	}{
		{"put", append(encodePutHeader(b.CID, false), b.Data...), request{op: opPut, cid: b.CID, data: b.Data}},
		{"put tentative empty", encodePutHeader(b.CID, true), request{op: opPut, tentative: true, cid: b.CID}},
		{"get", encodeGet(b.CID), request{op: opGet, cid: b.CID}},
		{"has", encodeBatch(opHas, []cid.Cid{b.CID, c2}), request{op: opHas, cids: []cid.Cid{b.CID, c2}}},
		{"confirm none", encodeBatch(opConfirm, nil), request{op: opConfirm, cids: []cid.Cid{}}},
	} {
		got, err := decodeRequest(tc.payload, 16)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got.op != tc.want.op || got.tentative != tc.want.tentative || !got.cid.Equals(tc.want.cid) ||
			!bytes.Equal(got.data, tc.want.data) || len(got.cids) != len(tc.want.cids) {
			t.Fatalf("%s: decoded %+v, want %+v", tc.name, got, tc.want)
		}
		for i := range got.cids {
			if !got.cids[i].Equals(tc.want.cids[i]) {
				t.Fatalf("%s: cid %d differs", tc.name, i)
			}
		}
	}
}

func TestBitmapRoundTrip(t *testing.T) {
	for n := range 20 {
		bits := make([]bool, n)
		for i := range bits {
			bits[i] = (i*7)%3 == 0
		}
		enc := encodeBitmap(bits)
		if enc[0] != statusOK {
			t.Fatal("bitmap answer does not start with OK")
		}
		got, err := decodeBitmap(enc[1:], n)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		for i := range bits {
			if got[i] != bits[i] {
				t.Fatalf("n=%d: bit %d differs", n, i)
			}
		}
		if n > 0 {
			if _, err := decodeBitmap(enc[1:], n-1); err == nil {
				t.Fatalf("n=%d: accepted a bitmap of the wrong count", n)
			}
		}
	}
}
