package light_test

import (
	"context"
	"fmt"
	"time"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/light"
)

// A program that reads a record from two nodes it does not trust: the
// first answers, the second cross-checks the headers; the genesis file's
// validator set is the trust root.
func Example() {
	root, err := light.GenesisRoot("/path/to/genesis.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := light.DefaultConfig()
	cfg.Primary = "http://127.0.0.1:26657"
	cfg.Witnesses = []string{"http://127.0.0.1:26667"}
	cfg.TrustRoot = root
	v, err := light.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := v.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	res, err := v.Record(ctx, "demo", "hello")
	switch {
	case err != nil:
		fmt.Println("refused:", err) // errors.Is(err, light.ErrTamperedValue), ...
	case !res.Found:
		fmt.Println("no such record;", res)
	default:
		rec := res.Value.(abci.Record)
		fmt.Println(rec.CID, res) // bafy... verified at height H by signatures of N of M voting power
	}
}
