package block

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
)

func TestDAGCheck(t *testing.T) {
	data := bytes.Repeat([]byte("dagcheck"), 3*1024/8+5) // three 1 KiB chunks and a bit
	res, blocks := imported(t, data, 1024)
	root := res.Root.CID
	all := func(skip cid.Cid) error {
		d, err := NewDAGCheck([]cid.Cid{root})
		if err != nil {
			return err
		}
		for _, b := range blocks {
			if b.CID == skip {
				continue
			}
			if _, err := d.Add(b); err != nil {
				return err
			}
		}
		return d.Complete()
	}
	if err := all(cid.Undef); err != nil {
		t.Fatalf("whole DAG: %v", err)
	}
	if err := all(root); err == nil || !strings.Contains(err.Error(), "root") {
		t.Errorf("root missing: %v", err)
	}
	if err := all(blocks[0].CID); err == nil || !strings.Contains(err.Error(), "linked from") {
		t.Errorf("leaf missing: %v", err)
	}
	d, _ := NewDAGCheck([]cid.Cid{root})
	if fresh, err := d.Add(blocks[0]); !fresh || err != nil {
		t.Fatalf("first add: %v %v", fresh, err)
	}
	if fresh, err := d.Add(blocks[0]); fresh || err != nil {
		t.Errorf("repeated block: fresh=%v err=%v", fresh, err)
	}
	if d.Blocks() != 1 || d.Bytes() != uint64(len(blocks[0].Data)) {
		t.Errorf("counts %d blocks %d bytes", d.Blocks(), d.Bytes())
	}
	bad := Block{CID: blocks[0].CID, Data: append([]byte{1}, blocks[0].Data...)}
	if _, err := d.Add(bad); err == nil {
		t.Error("a block that does not match its CID was accepted")
	}
	if _, err := NewDAGCheck(nil); err == nil {
		t.Error("no roots accepted")
	}
	// A CAR of a file Kubo added with its defaults has a CIDv0 root: the
	// refusal says what xnode keeps and how to export a file it imports.
	v0, err := cid.Decode("QmeTbnUxAVuJ9gQyndwEcN4AxFqgVh7t27ZLLEJcb9JhqM")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewDAGCheck([]cid.Cid{v0}); !errors.Is(err, ErrInvalidCID) || !strings.Contains(err.Error(), "--cid-version 1 --raw-leaves") {
		t.Errorf("a CIDv0 root: %v, want ErrInvalidCID saying how to add the file", err)
	}
}
