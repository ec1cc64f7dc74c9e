package overlay_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/api"
	tu "github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/light"
	"github.com/xnode/xnode/localnet"
)

// TestRecordProofOverAPI: GET /v1/records/{ns}/{key}?prove=true on a real
// node answers a proof that checks against the app hash of the header
// after the height it names, for a present record (200 with the record)
// and an absent one (404 with the proof of absence).
func TestRecordProofOverAPI(t *testing.T) {
	nodes := localnet.StartInProcess(t, 1, localnet.InProcessOptions{})
	c := clients(t, nodes)[0]
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	put, err := c.Put(ctx, bytes.NewReader(randomBytes(3000)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterNamespace(ctx, "demo"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SubmitRecord(ctx, "demo", "hello", put.CID); err != nil {
		t.Fatal(err)
	}
	// A proven read is of the last state whose app hash is in a stored
	// header, so it shows the record once the block after its commit is
	// stored (CometBFT makes it at once, since the app hash changed).
	var rec api.ProvenRecord
	tu.Eventually(t, 30*time.Second, func() bool {
		rec, err = c.RecordProof(ctx, "demo", "hello")
		return err == nil
	}, "the record in a proven read: %v", err)
	if rec.CID != put.CID || rec.Namespace != "demo" || rec.Key != "hello" || len(rec.Proof.Ops) != 1 || rec.Proof.Ops[0].Type != abci.ProofOpICS23 {
		t.Fatalf("got %+v", rec)
	}

	// The node's status names the latest header's app hash: that of the
	// state after the height before. A proof read between two equal
	// statuses is of that height and checks against it.
	for _, tc := range []struct {
		key    string
		status int
	}{{"hello", http.StatusOK}, {"missing", http.StatusNotFound}} {
		tu.Eventually(t, 30*time.Second, func() bool {
			before, err := c.Status(ctx)
			if err != nil {
				return false
			}
			proof, status := rawProof(t, nodes[0].APIURL()+"/v1/records/demo/"+tc.key+"?prove=true")
			after, err := c.Status(ctx)
			if err != nil || before.Height != after.Height || before.AppHash != after.AppHash {
				return false // a block in between: read again
			}
			if status != tc.status {
				t.Fatalf("%s: status %d, want %d", tc.key, status, tc.status)
			}
			if proof.Height != before.Height-1 {
				t.Fatalf("%s: proof of height %d, the node is at %d: want the height before", tc.key, proof.Height, before.Height)
			}
			ops := &cmtcrypto.ProofOps{}
			for _, op := range proof.Ops {
				ops.Ops = append(ops.Ops, cmtcrypto.ProofOp{Type: op.Type, Key: op.Key, Data: op.Data})
			}
			appHash, _ := hex.DecodeString(after.AppHash)
			if err := light.CheckProof(ops, abci.RecordKey("demo", tc.key), proof.Value, appHash); err != nil {
				t.Fatalf("%s: proof at height %d: %v", tc.key, proof.Height, err)
			}
			if (proof.Value != nil) != (tc.status == http.StatusOK) {
				t.Fatalf("%s: value %x with status %d", tc.key, proof.Value, status)
			}
			return true
		}, "%s: a proof read between two blocks", tc.key)
	}
}

// rawProof GETs url and returns the "proof" of its JSON body and the status.
func rawProof(t *testing.T, url string) (api.Proof, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Proof api.Proof }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.Proof, resp.StatusCode
}
