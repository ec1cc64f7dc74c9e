package light_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	"github.com/cosmos/iavl"
	iavldb "github.com/cosmos/iavl/db"
	ics23 "github.com/cosmos/ics23/go"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/light"
)

// recordKey is a state key shaped like a record's.
func recordKey(i int) []byte { return abci.RecordKey("bench", fmt.Sprintf("key-%09d", i)) }

// recordValue is a value of a record's size (canonical CBOR of a record
// with a CID, size, owner and a few attestations is 150-400 bytes).
func recordValue(i int) []byte {
	return fmt.Appendf(nil, "record %09d %s", i, bytes.Repeat([]byte{'v'}, 200))
}

// memTree builds an IAVL tree of n record-like keys (every other index,
// so that odd ones are absent) and saves it as one version.
func memTree(t testing.TB, n int) *iavl.ImmutableTree {
	t.Helper()
	tree := iavl.NewMutableTree(iavldb.NewMemDB(), 10000, true, iavl.NewNopLogger())
	for i := range n {
		if _, err := tree.Set(recordKey(2*i), recordValue(2*i)); err != nil {
			t.Fatal(err)
		}
	}
	_, v, err := tree.SaveVersion()
	if err != nil {
		t.Fatal(err)
	}
	imm, err := tree.GetImmutable(v)
	if err != nil {
		t.Fatal(err)
	}
	return imm
}

// proofOps is what the application attaches for key in imm.
func proofOps(t testing.TB, imm *iavl.ImmutableTree, key []byte) *cmtcrypto.ProofOps {
	t.Helper()
	p, err := imm.GetProof(key)
	if err != nil {
		t.Fatal(err)
	}
	return opsOf(t, key, p)
}

func opsOf(t testing.TB, key []byte, p *ics23.CommitmentProof) *cmtcrypto.ProofOps {
	t.Helper()
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{{Type: light.ProofOpType, Key: key, Data: b}}}
}

func TestProofOpTypeIsTheApplications(t *testing.T) {
	if light.ProofOpType != abci.ProofOpICS23 {
		t.Fatalf("light.ProofOpType %q, abci.ProofOpICS23 %q", light.ProofOpType, abci.ProofOpICS23)
	}
}

func TestCheckProof(t *testing.T) {
	imm := memTree(t, 100)
	root := imm.Hash()
	present, absent := recordKey(10), recordKey(11)
	first, beyond := recordKey(0), recordKey(1000)
	val := recordValue(10)
	other := memTree(t, 101).Hash()

	for _, tc := range []struct {
		name  string
		ops   *cmtcrypto.ProofOps
		key   []byte
		value []byte
		root  []byte
		want  error // nil: accepted
	}{
		{"present", proofOps(t, imm, present), present, val, root, nil},
		{"absent", proofOps(t, imm, absent), absent, nil, root, nil},
		{"absent before the first key", proofOps(t, imm, []byte("a")), []byte("a"), nil, root, nil},
		{"absent after the last key", proofOps(t, imm, beyond), beyond, nil, root, nil},
		{"present first key", proofOps(t, imm, first), first, recordValue(0), root, nil},
		{"tampered value", proofOps(t, imm, present), present, []byte("forged"), root, light.ErrTamperedValue},
		{"present claimed absent", proofOps(t, imm, present), present, nil, root, light.ErrTamperedValue},
		{"absent claimed present", proofOps(t, imm, absent), absent, val, root, light.ErrTamperedValue},
		{"another key's proof", proofOps(t, imm, recordKey(12)), present, val, root, light.ErrWrongKey},
		{"another key's absence proof", proofOps(t, imm, recordKey(13)), absent, nil, root, light.ErrWrongKey},
		{"another state's root", proofOps(t, imm, present), present, val, other, light.ErrAppHashMismatch},
		{"another state's root, absent", proofOps(t, imm, absent), absent, nil, other, light.ErrAppHashMismatch},
		{"no ops", nil, present, val, root, light.ErrNoProof},
		{"empty ops", &cmtcrypto.ProofOps{}, present, val, root, light.ErrNoProof},
		{"two ops", &cmtcrypto.ProofOps{Ops: append(proofOps(t, imm, present).Ops, proofOps(t, imm, present).Ops...)}, present, val, root, light.ErrNoProof},
		{"op of another type", &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{{Type: "iavl:v", Key: present, Data: proofOps(t, imm, present).Ops[0].Data}}}, present, val, root, light.ErrNoProof},
		{"op for another key", &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{{Type: light.ProofOpType, Key: absent, Data: proofOps(t, imm, present).Ops[0].Data}}}, present, val, root, light.ErrWrongKey},
		{"compressed", compressed(t, imm, present), present, val, root, nil},
		{"compressed absence", compressed(t, imm, absent), absent, nil, root, nil},
		{"compressed, tampered value", compressed(t, imm, present), present, []byte("forged"), root, light.ErrTamperedValue},
		{"compressed, step outside its table", badCompressed(t, imm, absent), absent, nil, root, light.ErrBadProof},
		{"batch of two", batchOfTwo(t, imm, present, absent), present, val, root, light.ErrBadProof},
		{"garbage", &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{{Type: light.ProofOpType, Key: present, Data: []byte{0x0a, 0xff}}}}, present, val, root, light.ErrBadProof},
		{"empty proof", opsOf(t, present, &ics23.CommitmentProof{}), present, val, root, light.ErrBadProof},
		{"empty absence proof", opsOf(t, absent, &ics23.CommitmentProof{Proof: &ics23.CommitmentProof_Nonexist{Nonexist: &ics23.NonExistenceProof{Key: absent}}}), absent, nil, root, light.ErrBadProof},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := light.CheckProof(tc.ops, tc.key, tc.value, tc.root)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestCheckProofForgedAbsence: an absence proof whose neighbours are not
// adjacent (a key between them exists) must be refused, or a node could
// hide a present key.
func TestCheckProofForgedAbsence(t *testing.T) {
	imm := memTree(t, 100)
	hidden := recordKey(20)
	left, err := imm.GetMembershipProof(recordKey(18))
	if err != nil {
		t.Fatal(err)
	}
	right, err := imm.GetMembershipProof(recordKey(22))
	if err != nil {
		t.Fatal(err)
	}
	forged := &ics23.CommitmentProof{Proof: &ics23.CommitmentProof_Nonexist{Nonexist: &ics23.NonExistenceProof{
		Key: hidden, Left: left.GetExist(), Right: right.GetExist(),
	}}}
	err = light.CheckProof(opsOf(t, hidden, forged), hidden, nil, imm.Hash())
	if !errors.Is(err, light.ErrBadProof) {
		t.Fatalf("got %v, want ErrBadProof", err)
	}
}

// TestCheckProofCorruptedBytes flips one bit of every byte of a proof in
// turn (a membership and an absence proof): each corruption is refused.
func TestCheckProofCorruptedBytes(t *testing.T) {
	imm := memTree(t, 1000)
	root := imm.Hash()
	for _, key := range [][]byte{recordKey(500), recordKey(501)} {
		data := proofOps(t, imm, key).Ops[0].Data
		value, err := imm.Get(key)
		if err != nil {
			t.Fatal(err)
		}
		if err := light.CheckProof(proofOps(t, imm, key), key, value, root); err != nil {
			t.Fatal(err)
		}
		for i := range data {
			bad := bytes.Clone(data)
			bad[i] ^= 0x01
			forged := &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{{Type: light.ProofOpType, Key: key, Data: bad}}}
			if light.CheckProof(forged, key, value, root) == nil {
				t.Fatalf("key %s: a proof with byte %d of %d corrupted was accepted", key, i, len(data))
			}
		}
	}
}

// compressed is key's proof as a one-entry compressed batch.
func compressed(t testing.TB, imm *iavl.ImmutableTree, key []byte) *cmtcrypto.ProofOps {
	t.Helper()
	return opsOf(t, key, ics23.Compress(batch(t, imm, key)))
}

func batch(t testing.TB, imm *iavl.ImmutableTree, keys ...[]byte) *ics23.CommitmentProof {
	t.Helper()
	var entries []*ics23.BatchEntry
	for _, key := range keys {
		p, err := imm.GetProof(key)
		if err != nil {
			t.Fatal(err)
		}
		if ex := p.GetExist(); ex != nil {
			entries = append(entries, &ics23.BatchEntry{Proof: &ics23.BatchEntry_Exist{Exist: ex}})
		} else {
			entries = append(entries, &ics23.BatchEntry{Proof: &ics23.BatchEntry_Nonexist{Nonexist: p.GetNonexist()}})
		}
	}
	return &ics23.CommitmentProof{Proof: &ics23.CommitmentProof_Batch{Batch: &ics23.BatchProof{Entries: entries}}}
}

func batchOfTwo(t testing.TB, imm *iavl.ImmutableTree, a, b []byte) *cmtcrypto.ProofOps {
	t.Helper()
	return opsOf(t, a, batch(t, imm, a, b))
}

// badCompressed is a compressed proof whose path names a step beyond its
// lookup table, which ics23.Decompress would index out of range.
func badCompressed(t testing.TB, imm *iavl.ImmutableTree, key []byte) *cmtcrypto.ProofOps {
	t.Helper()
	p := ics23.Compress(batch(t, imm, key))
	c := p.GetCompressed()
	c.Entries[0].GetNonexist().Left.Path[0] = int32(len(c.LookupInners) + 5)
	return opsOf(t, key, p)
}

// FuzzCheckProof feeds arbitrary proof bytes for a key of a real tree:
// CheckProof must never panic, and may accept only the true statement.
func FuzzCheckProof(f *testing.F) {
	imm := memTree(f, 200)
	root := imm.Hash()
	present, absent := recordKey(100), recordKey(101)
	for _, k := range [][]byte{present, absent} {
		f.Add(proofOps(f, imm, k).Ops[0].Data, k[len(k)-1]%2 == 1)
		f.Add(compressed(f, imm, k).Ops[0].Data, k[len(k)-1]%2 == 1)
	}
	truth, err := imm.Get(present)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, askAbsent bool) {
		key, value := present, []byte("forged value")
		if askAbsent {
			key, value = absent, nil
		}
		ops := &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{{Type: light.ProofOpType, Key: key, Data: data}}}
		if err := light.CheckProof(ops, key, value, root); err == nil && !askAbsent {
			t.Fatalf("a forged value was accepted")
		}
		// Claiming the present key absent is never accepted.
		ops.Ops[0].Key = present
		if light.CheckProof(ops, present, nil, root) == nil {
			t.Fatalf("a present key was proven absent")
		}
		_ = light.CheckProof(ops, present, truth, root)
	})
}
