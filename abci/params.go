package abci

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"time"
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

	// MaxValidators is how many validators, by bonded stake, are active.
	MaxValidators uint32 `json:"max_validators"`
	// MinValidatorStake is the least stake a validator bonds.
	MinValidatorStake uint64 `json:"min_validator_stake"`
	// MinNodeStake is the least stake a node bonds to take part in
	// placement (a validator counts).
	MinNodeStake uint64 `json:"min_node_stake"`
	// UnbondingTime is how long unbonded stake stays slashable before it
	// returns to the balance, in nanoseconds of block time.
	UnbondingTime int64 `json:"unbonding_time"`
	// SignedWindow is the number of recent blocks over which a validator's
	// signatures are counted; MinSignedPermille is the share (in ‰) of them
	// it must have signed, or it is jailed for JailTime (nanoseconds).
	SignedWindow      uint32 `json:"signed_window"`
	MinSignedPermille uint32 `json:"min_signed_permille"`
	JailTime          int64  `json:"jail_time"`
	// SlashDoubleSignPermille is the share (in ‰) of its stake, bonded and
	// unbonding, a validator loses for double signing; it is also
	// tombstoned: jailed for good.
	SlashDoubleSignPermille uint32 `json:"slash_double_sign_permille"`
	// MinWriteBalance is the balance an account needs to register a
	// namespace, submit a record or allow a publisher: a chain without fees
	// is thus closed to keys nobody funded, so a flood of writes costs the
	// sender real tokens to stage. 0 lets any key write.
	MinWriteBalance uint64 `json:"min_write_balance"`
}

// Bounds of Params.MaxChunkSize.
const (
	MinChunkSize = 1 << 10 // 1 KiB
	MaxChunkSize = 4 << 20 // 4 MiB
)

// DefaultParams are the parameters of a production network: R=3, 1 MiB
// chunks, and the Cosmos SDK's staking and slashing defaults (100
// validators, 21 days to unbond, 50% of 100 blocks signed, 10 minutes of
// jail, 5% slashed for double signing).
func DefaultParams() Params {
	return Params{
		ReplicationFactor:       3,
		MaxChunkSize:            1 << 20,
		MinMembers:              1,
		MaxValidators:           100,
		MinValidatorStake:       1,
		MinNodeStake:            1,
		UnbondingTime:           int64(21 * 24 * time.Hour),
		SignedWindow:            100,
		MinSignedPermille:       500,
		JailTime:                int64(10 * time.Minute),
		SlashDoubleSignPermille: 50,
	}
}

// DevParams are the parameters of a single-node development network: R=1,
// and a minute to unbond.
func DevParams() Params {
	p := DefaultParams()
	p.ReplicationFactor = 1
	p.MinMembers = 1
	p.UnbondingTime = int64(time.Minute)
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
	if p.MaxValidators < 1 || p.MaxValidators > 10000 {
		return fmt.Errorf("params: max_validators must be in [1, 10000], got %d", p.MaxValidators)
	}
	if p.MinValidatorStake < 1 || p.MinNodeStake < 1 {
		return fmt.Errorf("params: min_validator_stake and min_node_stake must be >= 1, got %d and %d", p.MinValidatorStake, p.MinNodeStake)
	}
	if p.UnbondingTime < 0 || p.JailTime < 0 {
		return fmt.Errorf("params: unbonding_time and jail_time must not be negative, got %d and %d", p.UnbondingTime, p.JailTime)
	}
	if p.SignedWindow < 1 || p.SignedWindow > 10000 {
		return fmt.Errorf("params: signed_window must be in [1, 10000], got %d", p.SignedWindow)
	}
	if p.MinSignedPermille > 1000 || p.SlashDoubleSignPermille > 1000 {
		return fmt.Errorf("params: min_signed_permille and slash_double_sign_permille must be <= 1000, got %d and %d", p.MinSignedPermille, p.SlashDoubleSignPermille)
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
	Params     Params             `json:"params"`
	Admins     [][]byte           `json:"admins"`
	Namespaces []Namespace        `json:"namespaces,omitempty"`
	Records    []Record           `json:"records,omitempty"`
	Accounts   []GenesisAccount   `json:"accounts,omitempty"`
	Validators []GenesisValidator `json:"validators,omitempty"`
	Nodes      []GenesisNode      `json:"nodes,omitempty"`
}

// GenesisAccount is a balance allocated at genesis.
type GenesisAccount struct {
	Address Address `json:"address"`
	Balance uint64  `json:"balance"`
}

// GenesisValidator is a validator bonded at genesis: account, consensus key
// (which must be among the CometBFT genesis validators, with power equal to
// the stake), the peer id of its node, and the stake. Genesis trusts these
// bindings; later validators prove theirs with signatures.
type GenesisValidator struct {
	Address Address `json:"address"`
	PubKey  []byte  `json:"pub_key"`
	PeerID  string  `json:"peer_id"`
	Stake   uint64  `json:"stake"`
}

// GenesisNode is a node admitted to placement at genesis.
type GenesisNode struct {
	Address Address `json:"address"`
	PeerID  string  `json:"peer_id"`
	Stake   uint64  `json:"stake"`
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
	return g.validateStaking()
}

// validateStaking checks accounts, validators and nodes: unique addresses,
// keys and peer ids, positive stakes, a supply that cannot overflow.
func (g GenesisState) validateStaking() error {
	accounts := map[Address]bool{}
	var supply uint64
	add := func(v uint64) error {
		if supply+v < supply || supply+v > maxSupply {
			return fmt.Errorf("genesis: total supply over %d", uint64(maxSupply))
		}
		supply += v
		return nil
	}
	for i, a := range g.Accounts {
		if accounts[a.Address] {
			return fmt.Errorf("genesis: accounts[%d]: %s is listed twice", i, a.Address)
		}
		accounts[a.Address] = true
		if err := add(a.Balance); err != nil {
			return err
		}
	}
	staked := map[Address]bool{}
	peers := map[string]bool{}
	keys := map[string]bool{}
	for i, v := range g.Validators {
		if len(v.PubKey) != ed25519.PublicKeySize {
			return fmt.Errorf("genesis: validators[%d]: pub_key must be a %d-byte ed25519 key, got %d bytes", i, ed25519.PublicKeySize, len(v.PubKey))
		}
		if err := validatePeerID(v.PeerID); err != nil {
			return fmt.Errorf("genesis: validators[%d]: %w", i, err)
		}
		if v.Stake < g.Params.MinValidatorStake {
			return fmt.Errorf("genesis: validators[%d]: stake %d is below min_validator_stake %d", i, v.Stake, g.Params.MinValidatorStake)
		}
		if staked[v.Address] || peers[v.PeerID] || keys[string(v.PubKey)] {
			return fmt.Errorf("genesis: validators[%d]: account, peer id or key registered twice", i)
		}
		staked[v.Address], peers[v.PeerID], keys[string(v.PubKey)] = true, true, true
		if err := add(v.Stake); err != nil {
			return err
		}
	}
	for i, n := range g.Nodes {
		if err := validatePeerID(n.PeerID); err != nil {
			return fmt.Errorf("genesis: nodes[%d]: %w", i, err)
		}
		if n.Stake < g.Params.MinNodeStake {
			return fmt.Errorf("genesis: nodes[%d]: stake %d is below min_node_stake %d", i, n.Stake, g.Params.MinNodeStake)
		}
		if staked[n.Address] || peers[n.PeerID] {
			return fmt.Errorf("genesis: nodes[%d]: account or peer id registered twice", i)
		}
		staked[n.Address], peers[n.PeerID] = true, true
		if err := add(n.Stake); err != nil {
			return err
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
	for _, a := range g.Accounts {
		if err := setBalance(o, a.Address, a.Balance); err != nil {
			return err
		}
	}
	for _, v := range g.Validators {
		st := Stake{Address: v.Address, PeerID: v.PeerID, ConsPubKey: v.PubKey, Bonded: v.Stake}
		if err := putStake(o, st); err != nil {
			return err
		}
	}
	for _, n := range g.Nodes {
		if err := putStake(o, Stake{Address: n.Address, PeerID: n.PeerID, Bonded: n.Stake}); err != nil {
			return err
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
