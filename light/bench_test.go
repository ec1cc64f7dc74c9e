package light_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	"github.com/cosmos/iavl"
	iavldb "github.com/cosmos/iavl/db"
	ics23 "github.com/cosmos/ics23/go"

	"github.com/xnode/xnode/light"
)

// diskTree builds, in a goleveldb directory (an on-disk store, as the
// application's tree is), an IAVL tree of n record-like keys at every even
// index, written in versions of 10,000 keys, and returns its latest
// version with a cold node cache.
func diskTree(b *testing.B, n int) *iavl.ImmutableTree {
	b.Helper()
	dir := b.TempDir()
	db, err := iavldb.NewGoLevelDB("state", dir)
	if err != nil {
		b.Fatal(err)
	}
	tree := iavl.NewMutableTree(db, 10000, true, iavl.NewNopLogger())
	const batch = 10000
	for i := 0; i < n; {
		for end := min(n, i+batch); i < end; i++ {
			if _, err := tree.Set(recordKey(2*i), recordValue(2*i)); err != nil {
				b.Fatal(err)
			}
		}
		if _, _, err := tree.SaveVersion(); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	// Reopen, so that reads come from the store, not from the nodes the
	// build left in memory.
	db, err = iavldb.NewGoLevelDB("state", dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	tree = iavl.NewMutableTree(db, 10000, true, iavl.NewNopLogger())
	v, err := tree.Load()
	if err != nil {
		b.Fatal(err)
	}
	imm, err := tree.GetImmutable(v)
	if err != nil {
		b.Fatal(err)
	}
	return imm
}

// BenchmarkProof measures, for one record in a state of 10^3 and 10^6
// records, the proof's size (proof-bytes: the marshalled ICS23 proof, as it
// travels in the one proof op) and the time to make it (generate, on the
// node) and to check it (verify, in the client: decode and check against
// the app hash). Present and absent keys both.
//
//	go test -run '^$' -bench BenchmarkProof -benchtime 2000x ./light/
func BenchmarkProof(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		if n > 1_000 && testing.Short() {
			continue
		}
		var imm *iavl.ImmutableTree
		parent := b
		tree := func(*testing.B) *iavl.ImmutableTree {
			if imm == nil {
				imm = diskTree(parent, n) // closed when the whole benchmark ends
			}
			return imm
		}
		for _, kind := range []string{"present", "absent"} {
			key := func(i int) []byte { return recordKey(2 * ((i * 7919) % n)) }
			if kind == "absent" {
				key = func(i int) []byte { return recordKey(2*((i*7919)%n) + 1) }
			}
			b.Run(fmt.Sprintf("records=%d/%s/generate", n, kind), func(b *testing.B) {
				t := tree(b)
				size := 0
				b.ResetTimer()
				for i := range b.N {
					p, err := t.GetProof(key(i))
					if err != nil {
						b.Fatal(err)
					}
					data, err := p.Marshal()
					if err != nil {
						b.Fatal(err)
					}
					size += len(data)
				}
				b.ReportMetric(float64(size)/float64(b.N), "proof-bytes")
				// The same proof as a compressed one-entry batch, which
				// CheckProof accepts too: an absence proof's two
				// neighbours share most of their path.
				data, err := ics23.Compress(batch(b, t, key(0))).Marshal()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(len(data)), "compressed-bytes")
			})
			b.Run(fmt.Sprintf("records=%d/%s/verify", n, kind), func(b *testing.B) {
				t := tree(b)
				root := t.Hash()
				const keys = 256
				type item struct{ key, value []byte }
				items := make([]item, keys)
				ops := make([]*cmtcrypto.ProofOps, keys)
				for i := range keys {
					k := key(i)
					v, err := t.Get(k)
					if err != nil {
						b.Fatal(err)
					}
					items[i] = item{k, v}
					ops[i] = proofOps(b, t, k)
				}
				b.ResetTimer()
				for i := range b.N {
					it := items[i%keys]
					if err := light.CheckProof(ops[i%keys], it.key, it.value, root); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkVerifiedRead is one verified read end to end over loopback:
// the primary's and the witness's status, the proven query, the header at
// H+1 with every commit signature checked, the light client's
// verification of it (skipping from the last trusted header, cross-checked
// with the witness) and the proof. Four validators of an IAVL key-value
// application, 1,000 keys; blocks keep coming, so most reads verify a new
// header.
//
//	go test -run '^$' -bench BenchmarkVerifiedRead -benchtime 200x ./light/
func BenchmarkVerifiedRead(b *testing.B) {
	nw := startNetwork(b, 4, func(int, string) abcitypes.Application { return newKVApp() })
	var txs []byte
	for i := range 1000 {
		txs = fmt.Appendf(txs[:0], "key-%04d=%s", i, bytes.Repeat([]byte{'v'}, 200))
		if i%100 == 99 {
			nw.commitTx(b, bytes.Clone(txs))
		} else if _, err := nw.Nodes[i%4].BroadcastTxSync(context.Background(), bytes.Clone(txs)); err != nil {
			b.Fatal(err)
		}
	}
	h := nw.commitTx(b, []byte("last=1"))
	nw.waitHeight(b, h+2)
	v, err := newVerifier(b, nw.ChainID, nw.genesisRoot(b), nw.RPC[0], nw.RPC[1])
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := query(b, v, fmt.Sprintf("key-%04d", (i*7)%1000)); err != nil {
			b.Fatal(err)
		}
	}
}
