package main

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportImportBetweenNodes: a blob put on one node, exported as a CAR
// and imported into another network's node reads back byte-identical
// there, under the same root CID; a corrupted CAR is refused.
func TestExportImportBetweenNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes")
	}
	_, a := startDevNode(t)
	_, b := startDevNode(t)
	dir := t.TempDir()
	data := make([]byte, 3<<20+99)
	rand.Read(data)
	file := filepath.Join(dir, "blob.bin")
	os.WriteFile(file, data, 0o644)
	r := cli(t, "", "put", file, "--api", a)
	if r.code != 0 {
		t.Fatalf("put: %+v", r)
	}
	root := strings.TrimSpace(r.stdout)
	car := filepath.Join(dir, "blob.car")
	if r = cli(t, "", "export", root, "-o", car, "--api", a); r.code != 0 {
		t.Fatalf("export: %+v", r)
	}
	if r = cli(t, "", "get", root, "--api", b); r.code != 1 {
		t.Fatalf("the other node has the blob before the import: %+v", r)
	}
	if r = cli(t, "", "import", car, "--api", b); r.code != 0 || strings.TrimSpace(r.stdout) != root {
		t.Fatalf("import: %+v", r)
	}
	back := filepath.Join(dir, "back.bin")
	if r = cli(t, "", "get", root, "-o", back, "--api", b); r.code != 0 {
		t.Fatalf("get after import: %+v", r)
	}
	if got, _ := os.ReadFile(back); !bytes.Equal(got, data) {
		t.Fatal("the imported blob does not read back byte-identical")
	}

	// A CAR with a flipped byte in its last block: refused, nothing
	// acknowledged, the error says what is wrong.
	raw, _ := os.ReadFile(car)
	raw[len(raw)-10] ^= 1
	bad := filepath.Join(dir, "bad.car")
	os.WriteFile(bad, raw, 0o644)
	_, c := startDevNode(t)
	if r = cli(t, "", "import", bad, "--api", c); r.code != 1 || !strings.Contains(r.stderr, "do not match") {
		t.Fatalf("import of a corrupted CAR: %+v", r)
	}
	if r = cli(t, "", "get", root, "--api", c); r.code != 1 {
		t.Fatalf("a refused import left the blob readable: %+v", r)
	}
	// Bad usage and missing files.
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"export", root}, 2, "-o FILE.car"},
		{[]string{"export", "not-a-cid", "-o", car}, 2, "CID"},
		{[]string{"import"}, 2, ""},
		{[]string{"import", filepath.Join(dir, "missing.car")}, 1, "no such file"},
		{[]string{"import", dir}, 1, "is a directory"},
	} {
		if r = cli(t, "", append(tc.args, "--api", a)...); r.code != tc.code || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("%v: %+v, want exit %d saying %q", tc.args, r, tc.code, tc.says)
		}
	}
}
