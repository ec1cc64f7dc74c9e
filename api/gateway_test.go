package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
)

// readCAR parses a CAR answer: its roots and its blocks in order, each
// checked against its CID by go-car.
func readCAR(t *testing.T, body []byte) ([]cid.Cid, []block.Block) {
	t.Helper()
	br, err := carv2.NewBlockReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("not a CAR: %v", err)
	}
	if br.Version != 1 {
		t.Fatalf("CAR version %d, want 1", br.Version)
	}
	var blocks []block.Block
	for {
		b, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("CAR block %d: %v", len(blocks), err)
		}
		blocks = append(blocks, block.Block{CID: b.Cid(), Data: b.RawData()})
	}
	return br.Roots, blocks
}

// fileFromCAR reads the file under root out of the CAR's blocks.
func fileFromCAR(t *testing.T, root cid.Cid, blocks []block.Block) []byte {
	t.Helper()
	m := map[cid.Cid][]byte{}
	for _, b := range blocks {
		m[b.CID] = b.Data
	}
	fetch := func(_ context.Context, c cid.Cid) (block.Block, error) {
		d, ok := m[c]
		if !ok {
			return block.Block{}, xnode.ErrNotFound
		}
		return block.Block{CID: c, Data: d}, nil
	}
	var out []byte
	err := block.Walk(context.Background(), root, fetch, func(b block.Block) error {
		if !block.IsManifest(b.CID) {
			out = append(out, b.Data...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGatewayServesRawBlocks(t *testing.T) {
	h := newHarness(t, nil)
	data := randomBytes(200*1024+5, 1) // 196 leaves of 1 KiB: a root over two nodes
	root := h.node.addFile(data, block.MinChunkSize)
	for c, want := range h.node.dag { // every block, root, nodes and leaves
		for _, how := range []struct {
			query string
			hdr   map[string]string
		}{{"", map[string]string{"Accept": mediaRaw}}, {"?format=raw", nil}} {
			resp, body := h.do("GET", "/ipfs/"+c.String()+how.query, nil, how.hdr)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != mediaRaw {
				t.Fatalf("raw %s%s: %d %s", c, how.query, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if !bytes.Equal(body, want) || block.Verify(c, body) != nil {
				t.Fatalf("raw %s: wrong bytes", c)
			}
		}
	}
	// Range over a raw block.
	resp, body := h.do("GET", "/ipfs/"+root.String(), nil, map[string]string{"Accept": mediaRaw, "Range": "bytes=2-5"})
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, h.node.dag[root][2:6]) {
		t.Fatalf("raw range: %d %q", resp.StatusCode, body)
	}
	// The client checks what it gets.
	got, err := h.client.GetBlock(t.Context(), root.String())
	if err != nil || !bytes.Equal(got, h.node.dag[root]) {
		t.Fatalf("client GetBlock: %v", err)
	}
	unknown := block.NewRaw([]byte("nobody has this")).CID.String()
	if resp, _ := h.do("GET", "/ipfs/"+unknown+"?format=raw", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown block: %d", resp.StatusCode)
	}
}

func TestGatewayServesCARs(t *testing.T) {
	h := newHarness(t, nil)
	data := randomBytes(200*1024+5, 2)
	root := h.node.addFile(data, block.MinChunkSize)
	for _, how := range []struct {
		query string
		hdr   map[string]string
	}{
		{"", map[string]string{"Accept": mediaCAR}},
		{"", map[string]string{"Accept": mediaCAR + "; version=1; order=dfs; dups=n"}},
		{"?format=car", nil},
		{"?format=car&dag-scope=all", nil},
		{"?dag-scope=entity", map[string]string{"Accept": mediaCAR}},
	} {
		resp, body := h.do("GET", "/ipfs/"+root.String()+how.query, nil, how.hdr)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), mediaCAR) {
			t.Fatalf("car %s %v: %d %s %s", how.query, how.hdr, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		roots, blocks := readCAR(t, body)
		if len(roots) != 1 || !roots[0].Equals(root) || !blocks[0].CID.Equals(root) {
			t.Fatalf("car roots %v, first block %s", roots, blocks[0].CID)
		}
		if len(blocks) != len(h.node.dag) {
			t.Fatalf("car of %d blocks, the DAG has %d", len(blocks), len(h.node.dag))
		}
		if !bytes.Equal(fileFromCAR(t, root, blocks), data) {
			t.Fatal("the CAR does not hold the file")
		}
	}
	// dag-scope=block: the root alone.
	resp, body := h.do("GET", "/ipfs/"+root.String()+"?format=car&dag-scope=block", nil, nil)
	if _, blocks := readCAR(t, body); resp.StatusCode != http.StatusOK || len(blocks) != 1 || !blocks[0].CID.Equals(root) {
		t.Fatalf("dag-scope=block: %d, %d blocks", resp.StatusCode, len(blocks))
	}
	// entity-bytes: only what the range needs (the root, the second
	// intermediate node, its leaves in the range).
	resp, body = h.do("GET", "/ipfs/"+root.String()+"?format=car&dag-scope=entity&entity-bytes=180000:180100", nil, nil)
	_, blocks := readCAR(t, body)
	if resp.StatusCode != http.StatusOK || len(blocks) != 3 || !blocks[0].CID.Equals(root) {
		t.Fatalf("entity-bytes: %d, %d blocks", resp.StatusCode, len(blocks))
	}
	// The client's export checks every block and writes the CAR as sent.
	var out bytes.Buffer
	n, err := h.client.ExportCAR(t.Context(), root.String(), &out)
	if err != nil || n != len(h.node.dag) {
		t.Fatalf("ExportCAR: %d blocks, %v", n, err)
	}
	if _, blocks := readCAR(t, out.Bytes()); !bytes.Equal(fileFromCAR(t, root, blocks), data) {
		t.Fatal("the exported CAR does not hold the file")
	}
	// A block missing under the root ends the CAR mid-stream: the
	// connection breaks, and the client says so.
	for c := range h.node.dag {
		if !c.Equals(root) && !block.IsManifest(c) {
			delete(h.node.dag, c)
			break
		}
	}
	if _, err := h.client.ExportCAR(t.Context(), root.String(), io.Discard); err == nil {
		t.Fatal("an export missing a block succeeded")
	}
}

func TestGatewayServesTheFile(t *testing.T) {
	h := newHarness(t, nil)
	data := append([]byte("<html><body>hello</body></html>"), randomBytes(5000, 3)...)
	root := h.node.addFile(data, block.MinChunkSize)
	for _, accept := range []string{"", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", mediaFile} {
		hdr := map[string]string{}
		if accept != "" {
			hdr["Accept"] = accept
		}
		resp, body := h.do("GET", "/ipfs/"+root.String(), nil, hdr)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
			t.Fatalf("file with Accept %q: %d, %d bytes", accept, resp.StatusCode, len(body))
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Fatalf("file Content-Type %q", ct)
		}
	}
	resp, body := h.do("GET", "/ipfs/"+root.String(), nil, map[string]string{"Range": "bytes=1000-2999"})
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[1000:3000]) {
		t.Fatalf("file range: %d, %d bytes", resp.StatusCode, len(body))
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("a range has the whole file's type, got %q", resp.Header.Get("Content-Type"))
	}
	if resp, _ := h.do("HEAD", "/ipfs/"+root.String(), nil, nil); resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(data)) {
		t.Fatalf("HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
}

func TestGatewayRefusesWhatItDoesNotServe(t *testing.T) {
	h := newHarness(t, nil)
	root := h.node.addFile(randomBytes(3000, 4), block.MinChunkSize)
	path := "/ipfs/" + root.String()
	for _, accept := range []string{"application/json", "text/html", "application/vnd.ipld.dag-json", mediaCAR + "; version=2", mediaRaw + ";q=0"} {
		resp, body := h.do("GET", path, nil, map[string]string{"Accept": accept})
		if resp.StatusCode != http.StatusNotAcceptable {
			t.Fatalf("Accept %q: %d, want 406", accept, resp.StatusCode)
		}
		for _, served := range []string{mediaRaw, mediaCAR, mediaFile} {
			if !strings.Contains(string(body), served) {
				t.Fatalf("the 406 does not list %s: %s", served, body)
			}
		}
	}
	for _, q := range []string{"?format=tar", "?format=car&dag-scope=nope", "?format=car&entity-bytes=x", "?format=car&entity-bytes=9:3"} {
		if resp, _ := h.do("GET", path+q, nil, nil); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: %d, want 400", q, resp.StatusCode)
		}
	}
	for _, bad := range []string{"not-a-cid", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"} {
		if resp, _ := h.do("GET", "/ipfs/"+bad, nil, nil); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("CID %q: %d, want 400", bad, resp.StatusCode)
		}
	}
}

func TestImportCARThroughTheAPI(t *testing.T) {
	src := newHarness(t, nil)
	data := randomBytes(10_000, 5)
	root := src.node.addFile(data, block.MinChunkSize)
	var car bytes.Buffer
	if _, err := src.client.ExportCAR(t.Context(), root.String(), &car); err != nil {
		t.Fatal(err)
	}
	dst := newHarness(t, nil)
	res, err := dst.client.ImportCAR(t.Context(), bytes.NewReader(car.Bytes()), int64(car.Len()))
	if err != nil || len(res.Roots) != 1 || res.Roots[0] != root.String() || res.Blocks != len(src.node.dag) {
		t.Fatalf("import: %+v %v", res, err)
	}
	got, err := dst.client.GetBlock(t.Context(), root.String())
	if err != nil || !bytes.Equal(got, src.node.dag[root]) {
		t.Fatalf("the imported root: %v", err)
	}
	// A refused CAR is INVALID_ARGUMENT.
	if _, err := dst.client.ImportCAR(t.Context(), bytes.NewReader(car.Bytes()[:car.Len()-7]), -1); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Fatalf("a truncated CAR: %v", err)
	}
	// Over the body limit: 413 before the node reads it.
	small := newHarness(t, func(c *Config) { c.MaxBodyBytes = 100 })
	if _, err := small.client.ImportCAR(t.Context(), bytes.NewReader(car.Bytes()), int64(car.Len())); !errors.Is(err, xnode.ErrTooLarge) {
		t.Fatalf("an oversized CAR: %v", err)
	}
}
