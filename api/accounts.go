package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/xnode/xnode"
)

// OperatorAccount, in place of an address in GET /v1/accounts/{address},
// names the serving node's own operator account.
const OperatorAccount = "operator"

// AccountReader is implemented by a Node that reads accounts and the
// validator set from the chain. The API serves GET /v1/accounts/{address}
// and GET /v1/validators only from such a node (UNAVAILABLE otherwise).
type AccountReader interface {
	// Account returns the account at address (bech32, xnode1…; or
	// OperatorAccount for the node's own). An address the chain has never
	// seen is an account with nothing in it, not an error; a malformed
	// one wraps xnode.ErrInvalidArgument.
	Account(ctx context.Context, address string) (Account, error)
	// Validators returns the validator set as the chain's last committed
	// state has it, active ones first.
	Validators(ctx context.Context) ([]Validator, error)
}

// Account is the answer of GET /v1/accounts/{address} and
// `xnode account --json`: liquid balance, stake bonded (to a validator or a
// node registration) and stake on its way out.
type Account struct {
	Address string `json:"address"`
	Balance uint64 `json:"balance"`
	Bonded  uint64 `json:"bonded"`
	// Unbonding is stake leaving its bond: it returns to Balance at
	// ReleaseTime and may be slashed until then.
	Unbonding []Unbonding `json:"unbonding"`
	// PeerID is the node this account registered (as a validator or a
	// storage node), if any.
	PeerID string `json:"peer_id,omitempty"`
}

// Unbonding is one amount of stake on its way back to the balance.
type Unbonding struct {
	Amount      uint64    `json:"amount"`
	ReleaseTime time.Time `json:"release_time"`
}

// accountReader returns the node's AccountReader, or an UNAVAILABLE error.
func (s *Server) accountReader() (AccountReader, error) {
	a, ok := s.node.(AccountReader)
	if !ok {
		return nil, fmt.Errorf("api: %w: this node does not serve accounts", xnode.ErrUnavailable)
	}
	return a, nil
}

// maxAddressParam bounds the address echoed in an error (a bech32 string is
// at most 90 characters).
const maxAddressParam = 90

// handleAccount serves GET /v1/accounts/{address}.
func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request) {
	addr := r.PathValue("address")
	if addr == "" || len(addr) > maxAddressParam {
		s.writeError(w, r, fmt.Errorf("api: %w: account address %q: want bech32 xnode1… (at most %d characters) or %q",
			xnode.ErrInvalidArgument, truncateParam(addr), maxAddressParam, OperatorAccount))
		return
	}
	a, err := s.accountReader()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	acc, err := a.Account(r.Context(), addr)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if acc.Unbonding == nil {
		acc.Unbonding = []Unbonding{}
	}
	s.writeJSON(w, r, http.StatusOK, acc)
}

// Account returns the account at address (GET /v1/accounts/{address});
// OperatorAccount names the node's own operator account.
func (c *Client) Account(ctx context.Context, address string) (Account, error) {
	var acc Account
	if address == "" {
		return acc, fmt.Errorf("api: %w: empty account address", xnode.ErrInvalidArgument)
	}
	err := c.doJSON(ctx, http.MethodGet, "/v1/accounts/"+url.PathEscape(address), nil, http.StatusOK, &acc)
	return acc, err
}
