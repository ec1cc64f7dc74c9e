package abci

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
)

// Params are the network parameters held on chain. Other packages read the
// replication factor from here (through the /params query), never from local
// configuration.
type Params struct {
	// ReplicationFactor R is how many owners each block is placed on.
	ReplicationFactor uint32 `json:"replication_factor"`
	// MaxChunkSize is the largest chunk a blob is cut into, in bytes.
	MaxChunkSize uint32 `json:"max_chunk_size"`
	// MinMembers is the fewest live members a put accepts; below it a put
	// fails with UNAVAILABLE.
	MinMembers uint32 `json:"min_members"`
}

// Bounds of Params.MaxChunkSize.
const (
	MinChunkSize = 1 << 10 // 1 KiB
	MaxChunkSize = 4 << 20 // 4 MiB
)

// DefaultParams are the parameters of a production network: R=3, 1 MiB chunks.
func DefaultParams() Params {
	return Params{ReplicationFactor: 3, MaxChunkSize: 1 << 20, MinMembers: 1}
}

// DevParams are the parameters of a single-node development network: R=1.
func DevParams() Params {
	p := DefaultParams()
	p.ReplicationFactor = 1
	p.MinMembers = 1
	return p
}

// Validate reports the first parameter out of range, naming it and its value.
func (p Params) Validate() error {
	if p.ReplicationFactor < 1 {
		return fmt.Errorf("params: replication_factor must be >= 1, got %d", p.ReplicationFactor)
	}
	if p.MaxChunkSize < MinChunkSize || p.MaxChunkSize > MaxChunkSize {
		return fmt.Errorf("params: max_chunk_size must be in [%d, %d], got %d", MinChunkSize, MaxChunkSize, p.MaxChunkSize)
	}
	if p.MinMembers < 1 {
		return fmt.Errorf("params: min_members must be >= 1, got %d", p.MinMembers)
	}
	return nil
}

// GenesisState is the app_state of the CometBFT genesis document:
//
//	{"params":{"replication_factor":3,"max_chunk_size":1048576,"min_members":1},
//	 "admins":["<base64 ed25519 public key>", ...]}
//
// Admins may sign ParamChange transactions; with none, parameters are fixed.
type GenesisState struct {
	Params Params   `json:"params"`
	Admins [][]byte `json:"admins"`
}

// DefaultGenesisState has DefaultParams and no admins.
func DefaultGenesisState() GenesisState {
	return GenesisState{Params: DefaultParams(), Admins: [][]byte{}}
}

// Validate checks the params and that every admin is an ed25519 public key.
func (g GenesisState) Validate() error {
	if err := g.Params.Validate(); err != nil {
		return fmt.Errorf("genesis: %w", err)
	}
	for i, a := range g.Admins {
		if len(a) != ed25519.PublicKeySize {
			return fmt.Errorf("genesis: admins[%d] must be a %d-byte ed25519 public key, got %d bytes", i, ed25519.PublicKeySize, len(a))
		}
	}
	return nil
}

// ParseGenesisState decodes and validates app_state. Unknown fields are an
// error so that a typo does not silently fall back to a default. An empty
// app_state yields DefaultGenesisState.
func ParseGenesisState(raw json.RawMessage) (GenesisState, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return DefaultGenesisState(), nil
	}
	g := GenesisState{Params: DefaultParams()}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		return GenesisState{}, fmt.Errorf("genesis: app_state: %w", err)
	}
	if dec.More() {
		return GenesisState{}, fmt.Errorf("genesis: app_state: trailing data")
	}
	if g.Admins == nil {
		g.Admins = [][]byte{}
	}
	if err := g.Validate(); err != nil {
		return GenesisState{}, err
	}
	return g, nil
}
