package abci

import (
	"encoding/hex"
	"testing"
)

// attestBlock commits one block of attestations on ns/key at version and
// returns the record afterwards.
func attestBlock(t *testing.T, app *App, height int64, nonce uint64, path string, version uint64, c string, verdicts map[int]bool, vals []genesisVal) Record {
	t.Helper()
	ns, k, _ := splitRecordPath(path)
	var txs [][]byte
	for i := range vals { // slice order, not map order
		ok, voted := verdicts[i]
		if !voted {
			continue
		}
		a := Attest{Namespace: ns, Key: k, Version: version, CID: c, OK: ok}
		if !ok {
			a.Reason = "block 0 does not match its CID"
		}
		txs = append(txs, mustTx(t)(NewAttest(vals[i].key, testChain, nonce, a)))
	}
	res, _ := finalizeAndCommit(t, app, height, txs)
	for i, r := range res {
		if r.Code != CodeOK {
			t.Fatalf("height %d attestation %d: code %d (%s)", height, i, r.Code, r.Log)
		}
	}
	return getRecord(t, app, path)
}

func pendingOf(t *testing.T, app *App, v genesisVal) []Record {
	t.Helper()
	var recs []Record
	if resp := query(t, app, QueryPending, hex.EncodeToString(pub(v.key)), &recs); resp.Code != CodeOK {
		t.Fatalf("pending query: code %d (%s)", resp.Code, resp.Log)
	}
	return recs
}

// setupRecords registers "photos" and submits the given keys at height 1.
func setupRecords(t *testing.T, app *App, keys ...string) string {
	t.Helper()
	owner := key("owner")
	c := testCID(t, "content")
	txs := [][]byte{mustTx(t)(NewRegisterNamespace(owner, testChain, 1, "photos"))}
	for i, k := range keys {
		txs = append(txs, mustTx(t)(NewSubmitRecord(owner, testChain, uint64(10+i), "photos", k, c, 7)))
	}
	res, _ := finalizeAndCommit(t, app, 1, txs)
	for i, r := range res {
		if r.Code != CodeOK {
			t.Fatalf("setup tx %d: code %d (%s)", i, r.Code, r.Log)
		}
	}
	return c
}

func TestStatusEqualPower(t *testing.T) {
	app := openApp(t, "", nil)
	vals := equalVals(4)
	initChain(t, app, vals)
	c := setupRecords(t, app, "good", "bad")

	if got := len(pendingOf(t, app, vals[0])); got != 2 {
		t.Fatalf("validator 0 has %d pending records, want 2", got)
	}
	rec := attestBlock(t, app, 2, 1, "photos/good", 1, c, map[int]bool{0: true, 1: true}, vals)
	if rec.Status != StatusPending {
		t.Errorf("2 of 4 OK: status %s, want pending", rec.Status)
	}
	if got := pendingOf(t, app, vals[0]); len(got) != 1 || got[0].Key != "bad" {
		t.Errorf("validator 0 pending after attesting good: %+v, want only bad", got)
	}
	if got := len(pendingOf(t, app, vals[2])); got != 2 {
		t.Errorf("validator 2 has %d pending records, want 2", got)
	}
	rec = attestBlock(t, app, 3, 2, "photos/good", 1, c, map[int]bool{2: true}, vals)
	if rec.Status != StatusVerified || len(rec.Attestations) != 3 {
		t.Errorf("3 of 4 OK: status %s with %d attestations, want verified with 3", rec.Status, len(rec.Attestations))
	}
	if got := pendingOf(t, app, vals[3]); len(got) != 1 || got[0].Key != "bad" {
		t.Errorf("validator 3 pending after good is verified: %+v, want only bad", got)
	}

	rec = attestBlock(t, app, 4, 3, "photos/bad", 1, c, map[int]bool{0: false}, vals)
	if rec.Status != StatusPending {
		t.Errorf("1 of 4 mismatch: status %s, want pending", rec.Status)
	}
	rec = attestBlock(t, app, 5, 4, "photos/bad", 1, c, map[int]bool{1: false}, vals)
	if rec.Status != StatusFailed || rec.Attestations[1].Reason == "" {
		t.Errorf("2 of 4 mismatch: status %s, want failed with reasons", rec.Status)
	}
	if got := pendingOf(t, app, vals[3]); len(got) != 0 {
		t.Errorf("pending after both records are final: %+v", got)
	}

	// A new version resets the attestations and the status.
	c2 := testCID(t, "content v2")
	res, _ := finalizeAndCommit(t, app, 6, [][]byte{mustTx(t)(NewSubmitRecord(key("owner"), testChain, 99, "photos", "good", c2, 9))})
	if res[0].Code != CodeOK {
		t.Fatalf("resubmit: %s", res[0].Log)
	}
	rec = getRecord(t, app, "photos/good")
	if rec.Version != 2 || rec.Status != StatusPending || len(rec.Attestations) != 0 || rec.CID != c2 || rec.Height != 6 {
		t.Errorf("after resubmit: %+v, want version 2, pending, no attestations, new cid, height 6", rec)
	}
	stale := mustTx(t)(NewAttest(vals[0].key, testChain, 100, Attest{Namespace: "photos", Key: "good", Version: 1, CID: c, OK: true}))
	if res, _ := finalizeAndCommit(t, app, 7, [][]byte{stale}); res[0].Code != CodeStale {
		t.Errorf("attestation of the old version: code %d, want CodeStale", res[0].Code)
	}
	if got := pendingOf(t, app, vals[0]); len(got) != 1 || got[0].Version != 2 {
		t.Errorf("pending after resubmit: %+v, want good version 2", got)
	}
}

func TestStatusWeightedPower(t *testing.T) {
	vals := []genesisVal{
		{key("big"), 10},
		{key("small-1"), 1},
		{key("small-2"), 1},
		{key("small-3"), 1},
	} // total 13: more than 2/3 needs > 8.67, more than 1/3 needs > 4.33
	app := openApp(t, "", nil)
	initChain(t, app, vals)
	c := setupRecords(t, app, "a", "b", "c")

	rec := attestBlock(t, app, 2, 1, "photos/a", 1, c, map[int]bool{1: true, 2: true, 3: true}, vals)
	if rec.Status != StatusPending {
		t.Errorf("3 small OK (3/13): %s, want pending", rec.Status)
	}
	rec = attestBlock(t, app, 3, 2, "photos/a", 1, c, map[int]bool{0: true}, vals)
	if rec.Status != StatusVerified {
		t.Errorf("all OK: %s, want verified", rec.Status)
	}
	rec = attestBlock(t, app, 4, 3, "photos/b", 1, c, map[int]bool{0: true}, vals)
	if rec.Status != StatusVerified || rec.Attestations[0].Power != 10 {
		t.Errorf("big alone OK (10/13): %s, power %d; want verified, 10", rec.Status, rec.Attestations[0].Power)
	}
	rec = attestBlock(t, app, 5, 4, "photos/c", 1, c, map[int]bool{0: false, 1: true, 2: true, 3: true}, vals)
	if rec.Status != StatusFailed {
		t.Errorf("big mismatch (10/13) vs 3 OK: %s, want failed", rec.Status)
	}
}

func TestComputeStatusBoundaries(t *testing.T) {
	att := func(ok bool, power int64) Attestation { return Attestation{OK: ok, Power: power} }
	for _, tc := range []struct {
		atts  []Attestation
		total int64
		want  string
	}{
		{nil, 0, StatusPending},
		{[]Attestation{att(true, 2)}, 3, StatusPending},  // exactly 2/3 is not more
		{[]Attestation{att(true, 3)}, 4, StatusVerified}, // 3/4
		{[]Attestation{att(false, 1)}, 3, StatusPending}, // exactly 1/3 is not more
		{[]Attestation{att(false, 2)}, 5, StatusFailed},  // 2/5
		{[]Attestation{att(true, 1), att(false, 1)}, 2, StatusFailed},
	} {
		if got := ComputeStatus(tc.atts, tc.total); got != tc.want {
			t.Errorf("ComputeStatus(%v, %d) = %s, want %s", tc.atts, tc.total, got, tc.want)
		}
	}
}
