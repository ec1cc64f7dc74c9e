package overlay

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/api"
)

var _ api.AccountReader = (*Node)(nil)

// Account reads an account from the chain's last committed state
// (api.AccountReader); api.OperatorAccount names this node's operator key.
func (n *Node) Account(ctx context.Context, address string) (api.Account, error) {
	var addr abci.Address
	if address == api.OperatorAccount {
		addr = abci.AddressOf(n.operator.Public().(ed25519.PublicKey))
	} else {
		a, err := abci.ParseAddress(address)
		if err != nil {
			return api.Account{}, err // wraps xnode.ErrInvalidArgument
		}
		addr = a
	}
	var acc api.Account
	if err := n.queryJSON(ctx, "/account", []byte(addr.String()), &acc); err != nil {
		return api.Account{}, fmt.Errorf("overlay: account %s: %w", addr, err)
	}
	if acc.Address == "" {
		acc.Address = addr.String()
	}
	return acc, nil
}

// Validators reads the validator set from the chain (api.AccountReader).
func (n *Node) Validators(ctx context.Context) ([]api.Validator, error) {
	var vs []api.Validator
	if err := n.queryJSON(ctx, "/validators", nil, &vs); err != nil {
		return nil, fmt.Errorf("overlay: validators: %w", err)
	}
	return vs, nil
}

// queryJSON runs an ABCI query whose answer is JSON and decodes it into out.
func (n *Node) queryJSON(ctx context.Context, path string, data []byte, out any) error {
	res, err := n.chain.Query(ctx, path, data)
	if err != nil {
		return err
	}
	if res.Code != 0 {
		return fmt.Errorf("%w: %s", txKind(res.Code), res.Log)
	}
	if err := json.Unmarshal(res.Value, out); err != nil {
		return fmt.Errorf("decode %s answer: %w", path, err)
	}
	return nil
}
