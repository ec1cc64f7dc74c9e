package overlay

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/consensus"
)

// seedGenesis returns the genesis file of a real home, as `xnode init`
// writes it and the genesis protocol serves it.
func seedGenesis(tb testing.TB) []byte {
	tb.Helper()
	h := Home(filepath.Join(tb.TempDir(), "home"))
	cfg := DefaultConfig()
	cfg.Moniker = "fuzz"
	if err := Init(h, InitOptions{ChainID: "xnode-fuzz", Config: cfg, GenesisTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}); err != nil {
		tb.Fatal(err)
	}
	raw, err := consensus.ReadGenesis(h.CometHome())
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// genesisAnswer is what a bootstrap peer answers: the genesis with its hash
// and chain id.
func genesisAnswer(tb testing.TB, genesis []byte, chainID, cometPeer string) []byte {
	tb.Helper()
	b, err := json.Marshal(GenesisInfo{ChainID: chainID, GenesisHash: consensus.GenesisHash(genesis), Genesis: genesis, CometPeer: cometPeer, Params: abci.DevParams()})
	if err != nil {
		tb.Fatal(err)
	}
	return append(b, '\n')
}

// checkGenesisInfo is the contract of DecodeGenesisInfo for any answer: no
// panic, ErrBadGenesis or a checked answer that encodes and decodes to
// itself.
func checkGenesisInfo(t *testing.T, raw []byte) {
	info, err := DecodeGenesisInfo(raw)
	if err != nil {
		if !errors.Is(err, ErrBadGenesis) {
			t.Fatalf("refused with an error that is not ErrBadGenesis: %v", err)
		}
		if n := len(err.Error()); n > 4096 {
			t.Fatalf("an error of %d bytes", n)
		}
		return
	}
	if len(raw) > maxGenesisAnswer {
		t.Fatalf("accepted an answer of %d bytes", len(raw))
	}
	if got := consensus.GenesisHash(info.Genesis); got != info.GenesisHash {
		t.Fatalf("accepted a genesis hashing to %s as %s", got, info.GenesisHash)
	}
	if err := info.Params.Validate(); err != nil {
		t.Fatalf("accepted invalid parameters: %v", err)
	}
	b, err := json.Marshal(info)
	if err != nil {
		t.Fatalf("accepted answer does not encode: %v", err)
	}
	again, err := DecodeGenesisInfo(b)
	if err != nil {
		t.Fatalf("re-encoded answer refused: %v", err)
	}
	if !reflect.DeepEqual(info, again) {
		t.Fatalf("round trip changed the answer:\n%+v\n%+v", info, again)
	}
}

// FuzzDecodeGenesisInfo: the whole answer of the genesis protocol, which
// `xnode join` reads from a bootstrap peer it does not yet trust.
func FuzzDecodeGenesisInfo(f *testing.F) {
	genesis := seedGenesis(f)
	good := genesisAnswer(f, genesis, "xnode-fuzz", "")
	if _, err := DecodeGenesisInfo(good); err != nil {
		f.Fatalf("the seed answer is refused: %v", err)
	}
	f.Add(good)
	f.Add(genesisAnswer(f, genesis, "xnode-fuzz", "0123456789abcdef0123456789abcdef01234567@127.0.0.1:26656"))
	f.Add(genesisAnswer(f, genesis, "other-chain", ""))                                                                           // chain id differs
	f.Add(bytes.Replace(genesisAnswer(f, genesis, "xnode-fuzz", ""), []byte(`"genesis_hash":"`), []byte(`"genesis_hash":"0`), 1)) // hash differs
	f.Add([]byte(`{"chain_id":"x","genesis_hash":"00","genesis":"eyJjaGFpbl9pZCI6IngifQ=="}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[`))
	f.Fuzz(checkGenesisInfo)
}

// FuzzGenesisFile: the genesis file inside an answer whose hash and chain
// id agree with it, so that the fuzzer reaches CometBFT's genesis checks
// and the app state's parser, which a wrong hash would stop first.
func FuzzGenesisFile(f *testing.F) {
	genesis := seedGenesis(f)
	f.Add(genesis)
	var doc map[string]any
	if err := json.Unmarshal(genesis, &doc); err != nil {
		f.Fatal(err)
	}
	variant := func(key string, v any) []byte {
		d := make(map[string]any, len(doc))
		for k, x := range doc {
			d[k] = x
		}
		if v == nil {
			delete(d, key)
		} else {
			d[key] = v
		}
		b, err := json.Marshal(d)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(variant("app_state", nil))                                                        // default app state
	f.Add(variant("app_state", map[string]any{"params": map[string]any{"replication": 0}})) // bad params
	f.Add(variant("app_state", map[string]any{"bogus": 1}))                                 // unknown field
	f.Add(variant("validators", []any{}))                                                   // no validators
	f.Add(variant("initial_height", "-5"))
	f.Add(variant("consensus_params", map[string]any{"block": map[string]any{"max_bytes": "-1"}}))
	f.Add(variant("chain_id", strings.Repeat("c", 60)))
	f.Fuzz(func(t *testing.T, genesis []byte) {
		var id struct {
			ChainID string `json:"chain_id"`
		}
		_ = json.Unmarshal(genesis, &id)
		b, err := json.Marshal(GenesisInfo{ChainID: id.ChainID, GenesisHash: consensus.GenesisHash(genesis), Genesis: genesis})
		if err != nil {
			return // a chain id that is not UTF-8 cannot be sent as JSON
		}
		checkGenesisInfo(t, b)
	})
}
