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
//	 "admins":["<base64 ed25519 public key>", ...],
//	 "namespaces":[{"name","owner","height"}, ...],
//	 "records":[{"namespace","key","cid","size","version","owner","height","status","attestations"}, ...]}
//
// Admins may sign ParamChange transactions; with none, parameters are fixed.
// Namespaces and records are optional: `xnode export-genesis` writes them
// so that a new chain starts from an old chain's state (records keep their
// status and attestations).
type GenesisState struct {
	Params     Params      `json:"params"`
	Admins     [][]byte    `json:"admins"`
	Namespaces []Namespace `json:"namespaces,omitempty"`
	Records    []Record    `json:"records,omitempty"`
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
	names := make(map[string]bool, len(g.Namespaces))
	for i, ns := range g.Namespaces {
		if err := ValidateNamespace(ns.Name); err != nil {
			return fmt.Errorf("genesis: namespaces[%d]: %w", i, err)
		}
		if len(ns.Owner) != ed25519.PublicKeySize {
			return fmt.Errorf("genesis: namespaces[%d] (%s): owner must be a %d-byte ed25519 public key, got %d bytes",
				i, ns.Name, ed25519.PublicKeySize, len(ns.Owner))
		}
		if names[ns.Name] {
			return fmt.Errorf("genesis: namespaces[%d]: %q is listed twice", i, ns.Name)
		}
		names[ns.Name] = true
	}
	paths := make(map[string]bool, len(g.Records))
	for i, r := range g.Records {
		if err := (&SubmitRecord{Namespace: r.Namespace, Key: r.Key, CID: r.CID}).ValidateBasic(); err != nil {
			return fmt.Errorf("genesis: records[%d]: %w", i, err)
		}
		if !names[r.Namespace] {
			return fmt.Errorf("genesis: records[%d]: namespace %q is not among the genesis namespaces", i, r.Namespace)
		}
		if p := r.Namespace + "/" + r.Key; paths[p] {
			return fmt.Errorf("genesis: records[%d]: %s is listed twice", i, p)
		} else {
			paths[p] = true
		}
		switch r.Status {
		case StatusPending, StatusVerified, StatusFailed:
		default:
			return fmt.Errorf("genesis: records[%d]: status must be pending, verified or failed, got %q", i, r.Status)
		}
		if r.Version < 1 {
			return fmt.Errorf("genesis: records[%d]: version must be >= 1, got %d", i, r.Version)
		}
		for j, at := range r.Attestations {
			if len(at.Validator) != ed25519.PublicKeySize {
				return fmt.Errorf("genesis: records[%d].attestations[%d]: validator must be a %d-byte ed25519 public key",
					i, j, ed25519.PublicKeySize)
			}
		}
	}
	return nil
}

// stage writes the genesis params, admins, namespaces and records into o.
func (g GenesisState) stage(o *overlay) error {
	if err := setCBOR(o, keyParams(), g.Params); err != nil {
		return err
	}
	for _, admin := range g.Admins {
		o.set(keyAdmin(admin), present)
	}
	for _, ns := range g.Namespaces {
		if err := setCBOR(o, keyNamespace(ns.Name), ns); err != nil {
			return err
		}
	}
	for _, r := range g.Records {
		if len(r.Attestations) == 0 {
			r.Attestations = nil
		}
		if err := setCBOR(o, keyRecord(r.Namespace, r.Key), r); err != nil {
			return err
		}
		if r.Status == StatusPending {
			o.set(keyPending(r.Namespace, r.Key), present)
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
