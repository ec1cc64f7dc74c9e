package overlay_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	carv2 "github.com/ipld/go-car/v2"

	"github.com/xnode/xnode/block"
)

// TestGatewayOnANode reads a blob a node stored through its /ipfs/ gateway:
// every block raw, the DAG as a CAR whose every block checks out, the file
// whole and in a range, and a 406 for an Accept it does not serve.
func TestGatewayOnANode(t *testing.T) {
	n, c, _ := singleNode(t, nil)
	ctx := context.Background()
	data := randomBytes(3<<20 + 5)
	res, err := c.Put(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string, hdr map[string]string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", n.APIURL()+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	resp, body := get("/ipfs/"+res.CID+"?format=car", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("car: %d %s", resp.StatusCode, body)
	}
	br, err := carv2.NewBlockReader(bytes.NewReader(body))
	if err != nil || len(br.Roots) != 1 || br.Roots[0].String() != res.CID {
		t.Fatalf("car header: %v %v", br, err)
	}
	var joined []byte
	var blocks int
	for {
		b, err := br.Next() // go-car hashes each block against its CID
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("car block %d: %v", blocks, err)
		}
		blocks++
		if !block.IsManifest(b.Cid()) {
			joined = append(joined, b.RawData()...)
		}
		// The same block, raw.
		r, raw := get("/ipfs/"+b.Cid().String(), map[string]string{"Accept": "application/vnd.ipld.raw"})
		if r.StatusCode != http.StatusOK || block.Verify(b.Cid(), raw) != nil {
			t.Fatalf("raw %s: %d", b.Cid(), r.StatusCode)
		}
	}
	if blocks != 5 || !bytes.Equal(joined, data) {
		t.Fatalf("the CAR holds %d blocks (want the root and 4 leaves) and %d of %d bytes", blocks, len(joined), len(data))
	}
	if resp, body = get("/ipfs/"+res.CID, nil); resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("file: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body = get("/ipfs/"+res.CID, map[string]string{"Range": "bytes=1048570-1048585"})
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[1048570:1048586]) {
		t.Fatalf("range: %d %x", resp.StatusCode, body)
	}
	resp, body = get("/ipfs/"+res.CID, map[string]string{"Accept": "application/json"})
	if resp.StatusCode != http.StatusNotAcceptable || !strings.Contains(string(body), "application/vnd.ipld.car") {
		t.Fatalf("406: %d %s", resp.StatusCode, body)
	}
}
