package abci

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"testing"
)

// genBlocks builds a reproducible random chain of blocks mixing valid and
// invalid transactions: registrations (some conflicting), submits (some to
// foreign or unknown namespaces), attestations (some stale, duplicate or
// from non-validators), garbage, and replays.
func genBlocks(tb testing.TB, seed uint64, nBlocks, perBlock int, vals []genesisVal) [][][]byte {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	owners := []ed25519.PrivateKey{key("owner-0"), key("owner-1"), key("owner-2")}
	names := []string{"alpha", "bravo", "charlie", "delta", "echo"}
	keys := []string{"a", "b/c", "d.txt", "e/f/g", "h"}
	nonces := map[string]uint64{}
	nextNonce := func(k ed25519.PrivateKey) uint64 {
		nonces[string(k)]++
		return nonces[string(k)]
	}
	// The generator's guess of each record's CID and version; often right,
	// sometimes not, which yields stale attestations too.
	lastCID := map[string]string{}
	version := map[string]uint64{}
	ownerOf := map[string]ed25519.PrivateKey{}
	var submitted []string
	var sent [][]byte
	must := mustTx(tb)
	blocks := make([][][]byte, nBlocks)
	for h := range blocks {
		for range perBlock {
			var tx []byte
			switch op := rng.IntN(100); {
			case op < 15:
				o, ns := owners[rng.IntN(len(owners))], names[rng.IntN(len(names))]
				tx = must(NewRegisterNamespace(o, testChain, nextNonce(o), ns))
				if ownerOf[ns] == nil {
					ownerOf[ns] = o
				}
			case op < 50:
				o := owners[rng.IntN(len(owners))]
				ns, k := names[rng.IntN(len(names))], keys[rng.IntN(len(keys))]
				if ownerOf[ns] != nil && rng.IntN(5) != 0 {
					o = ownerOf[ns]
				}
				c := testCID(tb, fmt.Sprint(rng.Uint64()))
				tx = must(NewSubmitRecord(o, testChain, nextNonce(o), ns, k, c, rng.Uint64N(1<<30)))
				if bytes.Equal(o, ownerOf[ns]) {
					p := ns + "/" + k
					lastCID[p] = c
					version[p]++
					submitted = append(submitted, p)
				}
			case op < 80:
				signer := vals[rng.IntN(len(vals))].key
				if rng.IntN(10) == 0 {
					signer = owners[0]
				}
				ns, k := names[rng.IntN(len(names))], keys[rng.IntN(len(keys))]
				if len(submitted) > 0 && rng.IntN(5) != 0 {
					ns, k, _ = splitRecordPath(submitted[rng.IntN(len(submitted))])
				}
				c, ok := lastCID[ns+"/"+k]
				if !ok {
					c = testCID(tb, "never submitted")
				}
				v := max(version[ns+"/"+k], 1)
				tx = must(NewAttest(signer, testChain, nextNonce(signer), Attest{
					Namespace: ns, Key: k, Version: v, CID: c, OK: rng.IntN(4) != 0, Reason: "r",
				}))
			case op < 90:
				tx = make([]byte, rng.IntN(200))
				for i := range tx {
					tx[i] = byte(rng.Uint32())
				}
			default:
				if len(sent) == 0 {
					continue
				}
				tx = sent[rng.IntN(len(sent))]
			}
			sent = append(sent, tx)
			blocks[h] = append(blocks[h], tx)
		}
	}
	return blocks
}

func TestDeterministicAppHash(t *testing.T) {
	vals := []genesisVal{{key("v0"), 5}, {key("v1"), 3}, {key("v2"), 1}, {key("v3"), 1}}
	blocks := genBlocks(t, 42, 20, 25, vals)

	a := openApp(t, t.TempDir(), nil)
	b := openApp(t, t.TempDir(), nil)
	c := openApp(t, t.TempDir(), nil) // fed one transaction more in block 10
	extra := mustTx(t)(NewRegisterNamespace(key("extra"), testChain, 1, "zulu"))
	ha, hb, hc := initChain(t, a, vals), initChain(t, b, vals), initChain(t, c, vals)
	if !bytes.Equal(ha, hb) || !bytes.Equal(ha, hc) || len(ha) != 32 {
		t.Fatalf("genesis hashes differ: %X %X %X", ha, hb, hc)
	}
	codes := map[uint32]int{}
	seen := map[string]bool{string(ha): true}
	for i, txs := range blocks {
		height := int64(i + 1)
		ra, ha := finalizeAndCommit(t, a, height, txs)
		rb, hb := finalizeAndCommit(t, b, height, txs)
		ctxs := txs
		if height == 10 {
			ctxs = append(append([][]byte{}, txs...), extra)
		}
		_, hc := finalizeAndCommit(t, c, height, ctxs)
		if !bytes.Equal(ha, hb) {
			t.Fatalf("height %d: app hashes differ: %X vs %X", height, ha, hb)
		}
		for j := range ra {
			if ra[j].Code != rb[j].Code {
				t.Fatalf("height %d tx %d: codes differ: %d vs %d", height, j, ra[j].Code, rb[j].Code)
			}
			codes[ra[j].Code]++
		}
		if seen[string(ha)] {
			t.Fatalf("height %d: app hash %X repeats an earlier one", height, ha)
		}
		seen[string(ha)] = true
		if diverged := !bytes.Equal(ha, hc); diverged != (height >= 10) {
			t.Fatalf("height %d: instance with a different block 10 diverged=%v", height, diverged)
		}
	}
	// The sequence must exercise success and the main rejections, or the
	// comparison above proves little.
	for _, code := range []uint32{CodeOK, CodeBadEncoding, CodeReplay, CodeConflict, CodeForeignNamespace, CodeNotValidator, CodeDuplicateAttestation} {
		if codes[code] == 0 {
			t.Errorf("random sequence produced no code %d (%s); codes: %v", code, CodeName(code), codes)
		}
	}
	t.Logf("codes over %d blocks: %v", len(blocks), codes)
	// Committed state answers identically.
	for _, path := range []string{QueryValidators, QueryParams} {
		qa, qb := query(t, a, path, "", nil), query(t, b, path, "", nil)
		if !bytes.Equal(qa.Value, qb.Value) {
			t.Errorf("%s differs: %s vs %s", path, qa.Value, qb.Value)
		}
	}
}
