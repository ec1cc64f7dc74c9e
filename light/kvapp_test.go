package light_test

import (
	"bytes"
	"context"
	"fmt"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	"github.com/cosmos/iavl"
	iavldb "github.com/cosmos/iavl/db"

	"github.com/xnode/xnode/light"
)

// kvApp is a key-value ABCI application over an IAVL tree that answers
// proven queries in the format of the xnode application: Height = the
// version read, Key = the state key, Value = the raw value or nil, and one
// "ics23:iavl" proof operation. A transaction "key=value" sets a key; a
// query on path "/kv" reads the key in its data. It lets the verifier's
// tests run a real CometBFT network whose answers they can then falsify.
type kvApp struct {
	abcitypes.BaseApplication
	tree *iavl.MutableTree
}

func newKVApp() *kvApp {
	return &kvApp{tree: iavl.NewMutableTree(iavldb.NewMemDB(), 1000, true, iavl.NewNopLogger())}
}

func (a *kvApp) Info(context.Context, *abcitypes.RequestInfo) (*abcitypes.ResponseInfo, error) {
	v, err := a.tree.GetLatestVersion()
	if err != nil {
		return nil, err
	}
	return &abcitypes.ResponseInfo{LastBlockHeight: v, LastBlockAppHash: a.tree.Hash()}, nil
}

func (a *kvApp) InitChain(context.Context, *abcitypes.RequestInitChain) (*abcitypes.ResponseInitChain, error) {
	return &abcitypes.ResponseInitChain{AppHash: a.tree.WorkingHash()}, nil
}

func (a *kvApp) CheckTx(_ context.Context, req *abcitypes.RequestCheckTx) (*abcitypes.ResponseCheckTx, error) {
	if !bytes.Contains(req.Tx, []byte("=")) {
		return &abcitypes.ResponseCheckTx{Code: 1, Log: "want key=value"}, nil
	}
	return &abcitypes.ResponseCheckTx{}, nil
}

func (a *kvApp) FinalizeBlock(_ context.Context, req *abcitypes.RequestFinalizeBlock) (*abcitypes.ResponseFinalizeBlock, error) {
	res := &abcitypes.ResponseFinalizeBlock{}
	for _, tx := range req.Txs {
		k, v, ok := bytes.Cut(tx, []byte("="))
		if !ok {
			res.TxResults = append(res.TxResults, &abcitypes.ExecTxResult{Code: 1})
			continue
		}
		if _, err := a.tree.Set(k, v); err != nil {
			return nil, err
		}
		res.TxResults = append(res.TxResults, &abcitypes.ExecTxResult{})
	}
	res.AppHash = a.tree.WorkingHash()
	return res, nil
}

func (a *kvApp) Commit(context.Context, *abcitypes.RequestCommit) (*abcitypes.ResponseCommit, error) {
	_, _, err := a.tree.SaveVersion()
	return &abcitypes.ResponseCommit{}, err
}

func (a *kvApp) Query(_ context.Context, req *abcitypes.RequestQuery) (*abcitypes.ResponseQuery, error) {
	if req.Path != "/kv" {
		return &abcitypes.ResponseQuery{Code: 1, Log: "unknown path " + req.Path}, nil
	}
	h := req.Height
	if h == 0 {
		h = a.tree.Version()
	}
	t, err := a.tree.GetImmutable(h)
	if err != nil {
		return &abcitypes.ResponseQuery{Code: 2, Log: fmt.Sprintf("height %d: %v", h, err)}, nil
	}
	val, err := t.Get(req.Data)
	if err != nil {
		return nil, err
	}
	resp := &abcitypes.ResponseQuery{Height: h, Key: req.Data, Value: val}
	if !req.Prove {
		return resp, nil
	}
	proof, err := t.GetProof(req.Data)
	if err != nil {
		return &abcitypes.ResponseQuery{Code: 3, Log: err.Error()}, nil
	}
	data, err := proof.Marshal()
	if err != nil {
		return nil, err
	}
	resp.ProofOps = &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{{Type: light.ProofOpType, Key: req.Data, Data: data}}}
	return resp, nil
}
