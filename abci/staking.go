package abci

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
)

// maxSupply bounds every balance and stake, so that the sum of all voting
// power stays below CometBFT's limit (MaxTotalVotingPower = MaxInt64/8).
const maxSupply = 1 << 59

// Staking state layout (inside the tree, beside doc.go's keys):
//
//	b/<addr20>                 balance, uint64 big endian
//	k/<addr20>                 CBOR Stake: the account's registration
//	e/<peer id>                addr20 of the account that registered the peer
//	g/<cons pub>               addr20 of the account bound to a consensus key
//	h/<cons addr20>            cons pub (CometBFT reports validators by address)
//	u/<release 8B><addr20>     unbonding queue, by release time (unix ns)
//	l/<cons pub>               CBOR []int64: heights the validator missed
//	y                          the validator set has changes not yet sent
const (
	prefixBalance   = "b/"
	prefixStake     = "k/"
	prefixPeer      = "e/"
	prefixBinding   = "g/"
	prefixConsAddr  = "h/"
	prefixUnbonding = "u/"
	prefixLiveness  = "l/"
	keySetDirty     = "y"
)

func keyBalance(a Address) string    { return prefixBalance + string(a[:]) }
func keyStake(a Address) string      { return prefixStake + string(a[:]) }
func keyPeer(id string) string       { return prefixPeer + id }
func keyBinding(pub []byte) string   { return prefixBinding + string(pub) }
func keyConsAddr(addr []byte) string { return prefixConsAddr + string(addr) }
func keyLiveness(pub []byte) string  { return prefixLiveness + string(pub) }
func keyUnbondingQueue(release int64, a Address) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(release))
	return prefixUnbonding + string(b[:]) + string(a[:])
}

// AccountKey and StakeKey are the state keys a proven /account answer
// covers (balance and registration).
func AccountKey(a Address) []byte { return []byte(keyBalance(a)) }

// StakeKey is the state key of an account's registration.
func StakeKey(a Address) []byte { return []byte(keyStake(a)) }

// Stake is an account's registration: the node it runs (and, for a
// validator, its consensus key), what it has bonded, and its standing.
type Stake struct {
	Address     Address
	PeerID      string
	ConsPubKey  []byte `cbor:",omitempty"` // nil for a node that is not a validator
	Bonded      uint64
	Unbonding   []Unbonding `cbor:",omitempty"`
	Jailed      bool        `cbor:",omitempty"`
	JailedUntil int64       `cbor:",omitempty"` // unix ns of block time
	Tombstoned  bool        `cbor:",omitempty"`
}

// Unbonding is stake on its way back to the balance.
type Unbonding struct {
	Amount      uint64    `json:"amount"`
	ReleaseTime time.Time `json:"release_time"`
}

// wireUnbonding is Unbonding as stored: release time in unix ns.
type wireUnbonding struct {
	_       struct{} `cbor:",toarray"`
	Amount  uint64
	Release int64
}

// Account is the /account answer.
type Account struct {
	Address   Address     `json:"address"`
	Balance   uint64      `json:"balance"`
	Bonded    uint64      `json:"bonded"`
	Unbonding []Unbonding `json:"unbonding"`
	PeerID    string      `json:"peer_id,omitempty"`
}

// ValidatorInfo is one entry of the /validators answer.
type ValidatorInfo struct {
	Address     string `json:"address"` // the account, bech32 (empty for a genesis-fixed validator)
	PubKey      string `json:"pub_key"` // consensus key, hex
	PeerID      string `json:"peer_id"`
	Power       int64  `json:"power"` // what CometBFT counts now
	Stake       uint64 `json:"stake"`
	Status      string `json:"status"` // active, inactive, jailed or tombstoned
	Missed      int    `json:"missed"` // blocks missed in the current window
	JailedUntil string `json:"jailed_until"`
}

// NodeInfo is one entry of the /nodes answer: a peer registered for
// placement.
type NodeInfo struct {
	PeerID    string `json:"peer_id"`
	Address   string `json:"address"`
	Stake     uint64 `json:"stake"`
	Validator bool   `json:"validator"`
	Status    string `json:"status"` // active, unbonding, jailed or tombstoned
}

// Node statuses.
const (
	NodeActive     = "active"
	NodeUnbonding  = "unbonding"
	NodeJailed     = "jailed"
	NodeTombstoned = "tombstoned"
)

// Staking event types.
const (
	EventTransfer         = "transfer"
	EventValidatorCreated = "validator.created"
	EventNodeRegistered   = "node.registered"
	EventBonded           = "stake.bonded"
	EventUnbonded         = "stake.unbonding"
	EventUnbondingMatured = "stake.released"
	EventJailed           = "validator.jailed"
	EventUnjailed         = "validator.unjailed"
	EventSlashed          = "validator.slashed"
	EventValidatorSet     = "validator.set"
	EventPublisherAllowed = "namespace.publisher_allowed"
	EventPublisherRemoved = "namespace.publisher_removed"
)

func getBalance(r reader, a Address) (uint64, error) {
	b, ok, err := r.get(keyBalance(a))
	if err != nil || !ok {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("balance of %s is %d bytes", a, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

func setBalance(o *overlay, a Address, v uint64) error {
	if v > maxSupply {
		return reject(ErrInvalid, "balance of %s would exceed %d", a, uint64(maxSupply))
	}
	if v == 0 {
		o.del(keyBalance(a))
		return nil
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	o.set(keyBalance(a), b[:])
	return nil
}

// storedStake is Stake as stored (unbonding entries in wire form).
type storedStake struct {
	Address     []byte
	PeerID      string
	ConsPubKey  []byte `cbor:",omitempty"`
	Bonded      uint64
	Unbonding   []wireUnbonding `cbor:",omitempty"`
	Jailed      bool            `cbor:",omitempty"`
	JailedUntil int64           `cbor:",omitempty"`
	Tombstoned  bool            `cbor:",omitempty"`
}

func getStake(r reader, a Address) (Stake, bool, error) {
	var s storedStake
	found, err := getCBOR(r, keyStake(a), &s)
	if err != nil || !found {
		return Stake{}, false, err
	}
	st, err := s.stake()
	return st, err == nil, err
}

// DecodeStake decodes an account's stored (proven) registration.
func DecodeStake(raw []byte) (Stake, error) {
	var s storedStake
	if err := stateDecMode.Unmarshal(raw, &s); err != nil {
		return Stake{}, fmt.Errorf("abci: decode stake: %w", err)
	}
	return s.stake()
}

func (s storedStake) stake() (Stake, error) {
	if len(s.Address) != len(Address{}) {
		return Stake{}, fmt.Errorf("abci: stake record with a %d-byte address", len(s.Address))
	}
	st := Stake{PeerID: s.PeerID, ConsPubKey: s.ConsPubKey, Bonded: s.Bonded,
		Jailed: s.Jailed, JailedUntil: s.JailedUntil, Tombstoned: s.Tombstoned}
	copy(st.Address[:], s.Address)
	for _, u := range s.Unbonding {
		st.Unbonding = append(st.Unbonding, Unbonding{Amount: u.Amount, ReleaseTime: time.Unix(0, u.Release).UTC()})
	}
	return st, nil
}

// putStake stores a registration and its peer and key indexes.
func putStake(o *overlay, st Stake) error {
	s := storedStake{Address: st.Address[:], PeerID: st.PeerID, ConsPubKey: st.ConsPubKey, Bonded: st.Bonded,
		Jailed: st.Jailed, JailedUntil: st.JailedUntil, Tombstoned: st.Tombstoned}
	for _, u := range st.Unbonding {
		s.Unbonding = append(s.Unbonding, wireUnbonding{Amount: u.Amount, Release: u.ReleaseTime.UnixNano()})
	}
	if err := setCBOR(o, keyStake(st.Address), s); err != nil {
		return err
	}
	o.set(keyPeer(st.PeerID), st.Address[:])
	if st.ConsPubKey != nil {
		o.set(keyBinding(st.ConsPubKey), st.Address[:])
		o.set(keyConsAddr(cmted25519.PubKey(st.ConsPubKey).Address()), st.ConsPubKey)
	}
	return nil
}

// markSetDirty asks the end of the block to recompute the validator set.
func markSetDirty(o *overlay) { o.set(keySetDirty, present) }

// requireWriteBalance enforces params.MinWriteBalance on a writer.
func requireWriteBalance(o *overlay, signer []byte) error {
	var p Params
	if _, err := getCBOR(o, keyParams(), &p); err != nil {
		return internal(err)
	}
	if p.MinWriteBalance == 0 {
		return nil
	}
	a := AddressOf(signer)
	bal, err := getBalance(o, a)
	if err != nil {
		return internal(err)
	}
	if bal < p.MinWriteBalance {
		return reject(ErrInsufficientFunds, "account %s holds %d; writing needs a balance of at least %d (fund it with xnode send)",
			a, bal, p.MinWriteBalance)
	}
	return nil
}

func loadParams(r reader) (Params, error) {
	var p Params
	if found, err := getCBOR(r, keyParams(), &p); err != nil {
		return p, internal(err)
	} else if !found {
		return p, internal(errors.New("no params in state"))
	}
	return p, nil
}

func (a *App) send(o *overlay, signer []byte, p *Send) ([]abcitypes.Event, error) {
	from := AddressOf(signer)
	var to Address
	copy(to[:], p.To)
	bal, err := getBalance(o, from)
	if err != nil {
		return nil, internal(err)
	}
	if bal < p.Amount {
		return nil, reject(ErrInsufficientFunds, "sending %d from %s, which holds %d", p.Amount, from, bal)
	}
	if err := setBalance(o, from, bal-p.Amount); err != nil {
		return nil, err
	}
	toBal, err := getBalance(o, to)
	if err != nil {
		return nil, internal(err)
	}
	if err := setBalance(o, to, toBal+p.Amount); err != nil {
		return nil, err
	}
	return []abcitypes.Event{event(EventTransfer, "from", from.String(), "to", to.String(),
		"amount", strconv.FormatUint(p.Amount, 10))}, nil
}

// debit takes amount from the account's balance for bonding.
func debit(o *overlay, a Address, amount uint64, what string) error {
	bal, err := getBalance(o, a)
	if err != nil {
		return internal(err)
	}
	if bal < amount {
		return reject(ErrInsufficientFunds, "%s %d from %s, which holds %d", what, amount, a, bal)
	}
	return setBalance(o, a, bal-amount)
}

func (a *App) createValidator(o *overlay, signer []byte, p *CreateValidator) ([]abcitypes.Event, error) {
	acct := AddressOf(signer)
	msg := BindingBytes(a.chainID, acct, p.PeerID, p.ConsPubKey)
	if !ed25519.Verify(p.ConsPubKey, msg, p.ConsSig) {
		return nil, reject(ErrBadBinding, "the consensus key's signature over the binding does not verify: the sender cannot sign for key %x", p.ConsPubKey)
	}
	if err := verifyPeerSig(p.PeerID, msg, p.PeerSig); err != nil {
		return nil, err
	}
	params, err := loadParams(o)
	if err != nil {
		return nil, err
	}
	if _, bound, err := o.get(keyBinding(p.ConsPubKey)); err != nil {
		return nil, internal(err)
	} else if bound {
		return nil, reject(ErrAlreadyRegistered, "consensus key %x is already bound to a validator", p.ConsPubKey)
	}
	if _, fixed, err := o.get(keyValidator(p.ConsPubKey)); err != nil {
		return nil, internal(err)
	} else if fixed {
		return nil, reject(ErrAlreadyRegistered, "consensus key %x is a genesis validator", p.ConsPubKey)
	}
	st, had, err := getStake(o, acct)
	if err != nil {
		return nil, internal(err)
	}
	switch {
	case had && (st.PeerID != p.PeerID || st.ConsPubKey != nil):
		return nil, reject(ErrAlreadyRegistered, "account %s already registered peer %s", acct, st.PeerID)
	case had && st.Tombstoned:
		return nil, reject(ErrJailed, "account %s is tombstoned", acct)
	case !had:
		if owner, taken, err := o.get(keyPeer(p.PeerID)); err != nil {
			return nil, internal(err)
		} else if taken && !bytes.Equal(owner, acct[:]) {
			return nil, reject(ErrAlreadyRegistered, "peer %s is already registered by another account", p.PeerID)
		}
		st = Stake{Address: acct, PeerID: p.PeerID}
	}
	if st.Bonded+p.Stake < params.MinValidatorStake {
		return nil, reject(ErrBelowMinimum, "a validator bonds at least %d, got %d", params.MinValidatorStake, st.Bonded+p.Stake)
	}
	if err := debit(o, acct, p.Stake, "bonding"); err != nil {
		return nil, err
	}
	st.ConsPubKey = p.ConsPubKey
	st.Bonded += p.Stake
	if err := putStake(o, st); err != nil {
		return nil, err
	}
	markSetDirty(o)
	return []abcitypes.Event{event(EventValidatorCreated, "address", acct.String(), "peer_id", p.PeerID,
		"pub_key", hexKey(p.ConsPubKey), "stake", strconv.FormatUint(st.Bonded, 10))}, nil
}

func (a *App) registerNode(o *overlay, signer []byte, p *RegisterNode) ([]abcitypes.Event, error) {
	acct := AddressOf(signer)
	if err := verifyPeerSig(p.PeerID, BindingBytes(a.chainID, acct, p.PeerID, nil), p.PeerSig); err != nil {
		return nil, err
	}
	params, err := loadParams(o)
	if err != nil {
		return nil, err
	}
	if p.Stake < params.MinNodeStake {
		return nil, reject(ErrBelowMinimum, "a node bonds at least %d, got %d", params.MinNodeStake, p.Stake)
	}
	if st, had, err := getStake(o, acct); err != nil {
		return nil, internal(err)
	} else if had {
		return nil, reject(ErrAlreadyRegistered, "account %s already registered peer %s", acct, st.PeerID)
	}
	if _, taken, err := o.get(keyPeer(p.PeerID)); err != nil {
		return nil, internal(err)
	} else if taken {
		return nil, reject(ErrAlreadyRegistered, "peer %s is already registered", p.PeerID)
	}
	if err := debit(o, acct, p.Stake, "bonding"); err != nil {
		return nil, err
	}
	if err := putStake(o, Stake{Address: acct, PeerID: p.PeerID, Bonded: p.Stake}); err != nil {
		return nil, err
	}
	return []abcitypes.Event{event(EventNodeRegistered, "address", acct.String(), "peer_id", p.PeerID,
		"stake", strconv.FormatUint(p.Stake, 10))}, nil
}

// ownStake loads the signer's registration or says there is none.
func ownStake(o *overlay, signer []byte) (Stake, error) {
	acct := AddressOf(signer)
	st, had, err := getStake(o, acct)
	if err != nil {
		return st, internal(err)
	}
	if !had {
		return st, reject(ErrNotBonded, "account %s has no registration: run `xnode validator create` or `xnode node register` first", acct)
	}
	return st, nil
}

func (a *App) bond(o *overlay, signer []byte, p *Bond) ([]abcitypes.Event, error) {
	st, err := ownStake(o, signer)
	if err != nil {
		return nil, err
	}
	if st.Tombstoned {
		return nil, reject(ErrJailed, "account %s is tombstoned", st.Address)
	}
	if err := debit(o, st.Address, p.Amount, "bonding"); err != nil {
		return nil, err
	}
	st.Bonded += p.Amount
	if err := putStake(o, st); err != nil {
		return nil, err
	}
	if st.ConsPubKey != nil {
		markSetDirty(o)
	}
	return []abcitypes.Event{event(EventBonded, "address", st.Address.String(),
		"amount", strconv.FormatUint(p.Amount, 10), "bonded", strconv.FormatUint(st.Bonded, 10))}, nil
}

func (a *App) unbond(o *overlay, signer []byte, p *Unbond, now time.Time) ([]abcitypes.Event, error) {
	st, err := ownStake(o, signer)
	if err != nil {
		return nil, err
	}
	if p.Amount > st.Bonded {
		return nil, reject(ErrNotBonded, "unbonding %d, but %s has %d bonded", p.Amount, st.Address, st.Bonded)
	}
	params, err := loadParams(o)
	if err != nil {
		return nil, err
	}
	release := now.Add(time.Duration(params.UnbondingTime)).UTC()
	st.Bonded -= p.Amount
	st.Unbonding = append(st.Unbonding, Unbonding{Amount: p.Amount, ReleaseTime: release})
	if err := putStake(o, st); err != nil {
		return nil, err
	}
	o.set(keyUnbondingQueue(release.UnixNano(), st.Address), present)
	if st.ConsPubKey != nil {
		markSetDirty(o)
	}
	return []abcitypes.Event{event(EventUnbonded, "address", st.Address.String(),
		"amount", strconv.FormatUint(p.Amount, 10), "release_time", release.Format(time.RFC3339Nano))}, nil
}

func (a *App) unjail(o *overlay, signer []byte, now time.Time) ([]abcitypes.Event, error) {
	st, err := ownStake(o, signer)
	if err != nil {
		return nil, err
	}
	switch {
	case st.ConsPubKey == nil:
		return nil, reject(ErrNotBonded, "account %s runs no validator", st.Address)
	case st.Tombstoned:
		return nil, reject(ErrJailed, "validator %s is tombstoned for double signing and cannot be unjailed", st.Address)
	case !st.Jailed:
		return nil, reject(ErrInvalid, "validator %s is not jailed", st.Address)
	case now.UnixNano() < st.JailedUntil:
		return nil, reject(ErrJailed, "validator %s is jailed until %s", st.Address, time.Unix(0, st.JailedUntil).UTC().Format(time.RFC3339))
	}
	st.Jailed, st.JailedUntil = false, 0
	if err := putStake(o, st); err != nil {
		return nil, err
	}
	o.del(keyLiveness(st.ConsPubKey))
	markSetDirty(o)
	return []abcitypes.Event{event(EventUnjailed, "address", st.Address.String())}, nil
}

func (a *App) allowPublisher(o *overlay, signer []byte, name, peerID string, allow bool) ([]abcitypes.Event, error) {
	if err := owner(o, name, signer); err != nil {
		return nil, err
	}
	if err := requireWriteBalance(o, signer); err != nil {
		return nil, err
	}
	var ns Namespace
	if _, err := getCBOR(o, keyNamespace(name), &ns); err != nil {
		return nil, internal(err)
	}
	i, found := slices.BinarySearch(ns.Publishers, peerID)
	switch {
	case allow && found, !allow && !found:
		return nil, nil // already as asked: nothing to write
	case allow:
		if len(ns.Publishers) >= MaxPublishers {
			return nil, reject(ErrInvalid, "namespace %q already allows %d publishers, the limit", name, MaxPublishers)
		}
		ns.Publishers = slices.Insert(ns.Publishers, i, peerID)
	default:
		ns.Publishers = slices.Delete(ns.Publishers, i, i+1)
	}
	if len(ns.Publishers) == 0 {
		ns.Publishers = nil
	}
	if err := setCBOR(o, keyNamespace(name), ns); err != nil {
		return nil, err
	}
	typ := EventPublisherAllowed
	if !allow {
		typ = EventPublisherRemoved
	}
	return []abcitypes.Event{event(typ, "namespace", name, "peer_id", peerID)}, nil
}

// MaxPublishers bounds the publishers one namespace allows.
const MaxPublishers = 256
