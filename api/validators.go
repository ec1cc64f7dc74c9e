package api

import (
	"context"
	"net/http"
)

// Validator states, Validator.Status.
const (
	ValidatorActive     = "active"     // in the top max_validators: votes and attests
	ValidatorInactive   = "inactive"   // bonded but outside the top max_validators
	ValidatorJailed     = "jailed"     // missed too many blocks; no power until unjailed
	ValidatorTombstoned = "tombstoned" // double-signed; never votes again
)

// Validator is one entry of GET /v1/validators and `xnode validators
// --json`.
type Validator struct {
	// Address is the account that bonded the stake (bech32, xnode1…).
	Address string `json:"address"`
	// PubKey is the CometBFT consensus key, hex.
	PubKey string `json:"pub_key"`
	// PeerID is the node's libp2p peer id, bound by the validator's
	// creation.
	PeerID string `json:"peer_id"`
	// Power is the voting power CometBFT counts (0 unless active).
	Power int64  `json:"power"`
	Stake uint64 `json:"stake"`
	// Status is ValidatorActive, ValidatorInactive, ValidatorJailed or
	// ValidatorTombstoned.
	Status string `json:"status"`
	// Missed is the blocks missed in the current signing window.
	Missed int `json:"missed"`
	// JailedUntil is RFC 3339 while jailed, else empty.
	JailedUntil string `json:"jailed_until"`
}

// handleValidators serves GET /v1/validators.
func (s *Server) handleValidators(w http.ResponseWriter, r *http.Request) {
	a, err := s.accountReader()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	vs, err := a.Validators(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if vs == nil {
		vs = []Validator{}
	}
	s.writeJSON(w, r, http.StatusOK, vs)
}

// Validators returns the validator set (GET /v1/validators).
func (c *Client) Validators(ctx context.Context) ([]Validator, error) {
	var vs []Validator
	err := c.doJSON(ctx, http.MethodGet, "/v1/validators", nil, http.StatusOK, &vs)
	return vs, err
}
