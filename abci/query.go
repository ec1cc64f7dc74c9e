package abci

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	"github.com/cosmos/iavl"
	ics23 "github.com/cosmos/ics23/go"
)

// Query paths.
const (
	QueryRecord     = "/record"     // data "ns/key" → Record JSON
	QueryNamespace  = "/namespace"  // data name → Namespace JSON
	QueryParams     = "/params"     // → Params JSON
	QueryValidator  = "/validator"  // data validator pubkey hex → Validator JSON
	QueryKey        = "/key"        // data a raw state key → its raw value
	QueryPending    = "/pending"    // data validator pubkey hex → []Record JSON
	QueryValidators = "/validators" // → []ValidatorInfo JSON, by power
	QueryAccount    = "/account"    // data bech32 address → Account JSON
	QueryNodes      = "/nodes"      // → []NodeInfo JSON, every registered peer
	QueryNode       = "/node"       // data peer id → NodeInfo JSON
)

// ProofOpICS23 is the type of the one proof op a proven query answers
// with: Key is the state key, Data a protobuf ics23.CommitmentProof under
// ics23.IavlSpec, whose root is the app hash in header Height+1: an
// existence proof, or for an absent key a non-existence proof sent as a
// compressed one-entry batch (ics23.Decompress gives it back).
const ProofOpICS23 = "ics23:iavl"

// MaxPendingResults caps one /pending answer; the verifier asks again after
// it has attested those.
const MaxPendingResults = 1000

// RecordKey, NamespaceKey, ParamsKey and ValidatorKey are the state keys a
// proven query of each kind answers for (ResponseQuery.Key).
func RecordKey(ns, key string) []byte { return []byte(keyRecord(ns, key)) }

// NamespaceKey is the state key of a namespace.
func NamespaceKey(name string) []byte { return []byte(keyNamespace(name)) }

// ParamsKey is the state key of the network parameters.
func ParamsKey() []byte { return []byte(keyParams()) }

// ValidatorKey is the state key of a validator's power.
func ValidatorKey(pub []byte) []byte { return []byte(keyValidator(pub)) }

// DecodeRecord decodes a record's stored (proven) value.
func DecodeRecord(raw []byte) (Record, error) {
	var r Record
	if err := stateDecMode.Unmarshal(raw, &r); err != nil {
		return Record{}, fmt.Errorf("abci: decode record: %w", err)
	}
	return normalize(r), nil
}

// DecodeNamespace decodes a namespace's stored (proven) value.
func DecodeNamespace(raw []byte) (Namespace, error) {
	var ns Namespace
	if err := stateDecMode.Unmarshal(raw, &ns); err != nil {
		return Namespace{}, fmt.Errorf("abci: decode namespace: %w", err)
	}
	return ns, nil
}

// DecodeParams decodes the stored (proven) network parameters.
func DecodeParams(raw []byte) (Params, error) {
	var p Params
	if err := stateDecMode.Unmarshal(raw, &p); err != nil {
		return Params{}, fmt.Errorf("abci: decode params: %w", err)
	}
	return p, nil
}

// DecodeValidatorPower decodes a validator's stored (proven) power.
func DecodeValidatorPower(raw []byte) (int64, error) {
	if len(raw) != 8 {
		return 0, fmt.Errorf("abci: decode validator power: %d bytes, want 8", len(raw))
	}
	return int64(binary.BigEndian.Uint64(raw)), nil
}

// Query answers from committed state. req.Height 0 means the latest
// height; an earlier one is served while it is retained (Config.KeepRecent)
// and answered with the oldest retained height once pruned. The response
// Height is the height whose state was read: its app hash is in header
// Height+1.
//
// Without Prove the value is JSON, and an absent key is a NOT_FOUND code.
// With Prove (paths /record, /namespace, /params, /validator, /key) the
// value is the raw stored value, Key the state key, ProofOps one
// ProofOpICS23 op, and an absent key answers code 0 with no value and a
// proof of absence, as CometBFT's light client expects. Failures are
// response codes, never Go errors.
func (a *App) Query(_ context.Context, req *abcitypes.RequestQuery) (*abcitypes.ResponseQuery, error) {
	resp := &abcitypes.ResponseQuery{Key: req.Data}
	err := a.queryAt(req, resp)
	if err != nil {
		resp.Value = nil
		resp.ProofOps = nil
		resp.Code = CodeOf(err)
		resp.Log = err.Error()
	}
	return resp, nil
}

func (a *App) queryAt(req *abcitypes.RequestQuery, resp *abcitypes.ResponseQuery) error {
	view := a.view.Load()
	if view == nil || a.closed.Load() {
		return reject(ErrInternal, "the state DB is closed")
	}
	resp.Height = view.height
	var r reader
	var imm *iavl.ImmutableTree
	switch {
	case req.Height < 0:
		return reject(ErrInvalid, "height must be >= 0, got %d", req.Height)
	case req.Height == 0 || req.Height == view.height:
		if view.tree == nil {
			if req.Prove {
				return reject(ErrNotFound, "no proven state before the first block is committed")
			}
			if view.genesis == nil {
				return reject(ErrNotFound, "no state before InitChain")
			}
			r = view.genesis
			break
		}
		imm = view.tree
	default:
		if req.Height > view.height {
			return reject(ErrInvalid, "height %d is not committed yet; the latest is %d", req.Height, view.height)
		}
		t, err := a.treeAt(req.Height)
		if errors.Is(err, ErrPruned) {
			return reject(ErrNotFound, "%v", err)
		}
		if err != nil {
			return err
		}
		imm = t
		resp.Height = req.Height
	}
	if imm != nil {
		r = treeReader{imm}
	}
	if req.Prove {
		return a.prove(imm, req.Path, req.Data, resp)
	}
	v, err := a.query(r, imm, req.Path, req.Data, resp.Height)
	if err != nil {
		return err
	}
	resp.Value, err = json.Marshal(v)
	if err != nil {
		return internal(err)
	}
	return nil
}

// treeAt reads a retained height under the App's lock, so that it never
// races a Commit that saves or prunes.
func (a *App) treeAt(h int64) (*iavl.ImmutableTree, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tree.at(h)
}

// stateKey maps a query path and its data to the state key it reads.
func stateKey(path string, data []byte) (string, error) {
	switch path {
	case QueryRecord:
		ns, key, ok := splitRecordPath(string(data))
		if !ok {
			return "", reject(ErrInvalid, "record query data must be namespace/key, got %q", truncate(string(data)))
		}
		return keyRecord(ns, key), nil
	case QueryNamespace:
		return keyNamespace(string(data)), nil
	case QueryParams:
		return keyParams(), nil
	case QueryValidator:
		pub, err := hex.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || len(pub) != 32 {
			return "", reject(ErrInvalid, "validator query data must be a hex ed25519 public key")
		}
		return keyValidator(pub), nil
	case QueryKey:
		if len(data) == 0 {
			return "", reject(ErrInvalid, "key query data must be a state key")
		}
		return string(data), nil
	case QueryAccount:
		a, err := ParseAddress(string(data))
		if err != nil {
			return "", err
		}
		return keyBalance(a), nil
	case QueryNode:
		if err := validatePeerID(string(data)); err != nil {
			return "", err
		}
		return keyPeer(string(data)), nil
	}
	return "", reject(ErrInvalid, "unknown query path %q", path)
}

// prove answers a proven query: the raw value (nil if absent), the state
// key, and an ICS23 proof of membership or absence against imm's root.
func (a *App) prove(imm *iavl.ImmutableTree, path string, data []byte, resp *abcitypes.ResponseQuery) error {
	switch path {
	case QueryPending, QueryValidators, QueryNodes:
		return reject(ErrInvalid, "%s lists many keys and has no proof; query each key with prove", path)
	}
	k, err := stateKey(path, data)
	if err != nil {
		return err
	}
	key := []byte(k)
	val, err := imm.Get(key)
	if err != nil {
		return internal(err)
	}
	var proof *ics23.CommitmentProof
	if val != nil {
		proof, err = imm.GetMembershipProof(key)
	} else {
		proof, err = imm.GetNonMembershipProof(key)
	}
	if err != nil {
		return internal(fmt.Errorf("proof of %q: %w", truncate(k), err))
	}
	if val == nil {
		// An absence proof carries both neighbours' paths, which share most
		// of their inner nodes: sent as a compressed one-entry batch it is
		// about a third smaller (2.4 KB → 1.6 KB at 10^6 keys).
		// ics23.VerifyNonMembership decompresses it.
		proof = ics23.Compress(&ics23.CommitmentProof{Proof: &ics23.CommitmentProof_Batch{
			Batch: &ics23.BatchProof{Entries: []*ics23.BatchEntry{{Proof: &ics23.BatchEntry_Nonexist{Nonexist: proof.GetNonexist()}}}},
		}})
	}
	b, err := proof.Marshal()
	if err != nil {
		return internal(err)
	}
	resp.Key = key
	resp.Value = val
	resp.ProofOps = &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{{Type: ProofOpICS23, Key: key, Data: b}}}
	return nil
}

func (a *App) query(r reader, imm *iavl.ImmutableTree, path string, data []byte, height int64) (any, error) {
	switch path {
	case QueryRecord:
		ns, key, ok := splitRecordPath(string(data))
		if !ok {
			return nil, reject(ErrInvalid, "record query data must be namespace/key, got %q", truncate(string(data)))
		}
		var rec Record
		if found, err := getCBOR(r, keyRecord(ns, key), &rec); err != nil {
			return nil, internal(err)
		} else if !found {
			return nil, reject(ErrNotFound, "no record %s/%s", ns, key)
		}
		return normalize(rec), nil
	case QueryNamespace:
		var ns Namespace
		if found, err := getCBOR(r, keyNamespace(string(data)), &ns); err != nil {
			return nil, internal(err)
		} else if !found {
			return nil, reject(ErrUnknownNamespace, "namespace %q is not registered", truncate(string(data)))
		}
		return ns, nil
	case QueryParams:
		var p Params
		if found, err := getCBOR(r, keyParams(), &p); err != nil {
			return nil, internal(err)
		} else if !found {
			return nil, reject(ErrNotFound, "no params before InitChain")
		}
		return p, nil
	case QueryValidator:
		k, err := stateKey(path, data)
		if err != nil {
			return nil, err
		}
		b, ok, err := r.get(k)
		if err != nil {
			return nil, internal(err)
		} else if !ok {
			return nil, reject(ErrNotFound, "%s is not a validator", truncate(string(data)))
		}
		power, err := DecodeValidatorPower(b)
		if err != nil {
			return nil, internal(err)
		}
		return Validator{PubKey: []byte(k[len(prefixValidator):]), Power: power}, nil
	case QueryKey:
		k, err := stateKey(path, data)
		if err != nil {
			return nil, err
		}
		b, ok, err := r.get(k)
		if err != nil {
			return nil, internal(err)
		} else if !ok {
			return nil, reject(ErrNotFound, "no state at key %q", truncate(k))
		}
		return b, nil
	case QueryPending:
		pub, err := hex.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || len(pub) != 32 {
			return nil, reject(ErrInvalid, "pending query data must be a hex ed25519 public key")
		}
		if imm == nil { // genesis, before the first block
			return []Record{}, nil
		}
		return pendingFor(imm, pub)
	case QueryValidators:
		vals, err := validatorInfos(r, height)
		if err != nil {
			return nil, internal(err)
		}
		return vals, nil
	case QueryAccount:
		addr, err := ParseAddress(string(data))
		if err != nil {
			return nil, err
		}
		return account(r, addr)
	case QueryNodes:
		nodes, err := nodeInfos(r)
		if err != nil {
			return nil, internal(err)
		}
		return nodes, nil
	case QueryNode:
		if err := validatePeerID(string(data)); err != nil {
			return nil, err
		}
		acct, ok, err := r.get(keyPeer(string(data)))
		if err != nil {
			return nil, internal(err)
		} else if !ok {
			return nil, reject(ErrNotFound, "peer %s is not registered", truncate(string(data)))
		}
		var addr Address
		copy(addr[:], acct)
		st, _, err := getStake(r, addr)
		if err != nil {
			return nil, internal(err)
		}
		params, err := loadParams(r)
		if err != nil {
			return nil, err
		}
		return nodeInfo(st, params), nil
	}
	return nil, reject(ErrInvalid, "unknown query path %q", path)
}

// prefixEnd is the first key after every key that starts with prefix.
func prefixEnd(prefix string) []byte {
	end := []byte(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// scan calls fn for each key under prefix in key order until fn returns
// false or an error.
func scan(imm *iavl.ImmutableTree, prefix string, fn func(key, val []byte) (bool, error)) error {
	it, err := imm.Iterator([]byte(prefix), prefixEnd(prefix), true)
	if err != nil {
		return err
	}
	defer it.Close()
	for ; it.Valid(); it.Next() {
		more, err := fn(it.Key(), it.Value())
		if err != nil || !more {
			return err
		}
	}
	return it.Error()
}

// pendingFor lists pending records whose current version has no
// attestation from validator pub, in key order, at most MaxPendingResults.
func pendingFor(imm *iavl.ImmutableTree, pub []byte) ([]Record, error) {
	out := []Record{}
	r := treeReader{imm}
	err := scan(imm, prefixPending, func(k, _ []byte) (bool, error) {
		path := string(k[len(prefixPending):])
		var rec Record
		if found, err := getCBOR(r, prefixRecord+path, &rec); err != nil {
			return false, internal(err)
		} else if !found {
			return false, internal(fmt.Errorf("pending index names missing record %q", path))
		}
		attested := false
		for _, at := range rec.Attestations {
			if bytes.Equal(at.Validator, pub) {
				attested = true
				break
			}
		}
		if !attested {
			out = append(out, normalize(rec))
		}
		return len(out) < MaxPendingResults, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// normalize makes JSON show an empty attestation list as [] rather than null.
func normalize(r Record) Record {
	if r.Attestations == nil {
		r.Attestations = []Attestation{}
	}
	return r
}

// account answers /account: balance, bonded stake and unbonding entries.
func account(r reader, addr Address) (Account, error) {
	bal, err := getBalance(r, addr)
	if err != nil {
		return Account{}, internal(err)
	}
	out := Account{Address: addr, Balance: bal, Unbonding: []Unbonding{}}
	st, had, err := getStake(r, addr)
	if err != nil {
		return Account{}, internal(err)
	}
	if had {
		out.Bonded, out.PeerID = st.Bonded, st.PeerID
		if st.Unbonding != nil {
			out.Unbonding = st.Unbonding
		}
	}
	return out, nil
}

// stakes lists every registration in address order.
func stakes(r reader) ([]Stake, error) {
	keys, err := keysWithPrefix(r, prefixStake)
	if err != nil {
		return nil, err
	}
	out := make([]Stake, 0, len(keys))
	for _, k := range keys {
		var addr Address
		copy(addr[:], k[len(prefixStake):])
		st, _, err := getStake(r, addr)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func nodeInfo(st Stake, params Params) NodeInfo {
	n := NodeInfo{PeerID: st.PeerID, Address: st.Address.String(), Stake: st.Bonded, Validator: st.ConsPubKey != nil}
	switch {
	case st.Tombstoned:
		n.Status = NodeTombstoned
	case st.Jailed:
		n.Status = NodeJailed
	case st.Bonded >= params.MinNodeStake:
		n.Status = NodeActive
	default:
		n.Status = NodeUnbonding
	}
	return n
}

// nodeInfos answers /nodes: every registered peer, in address order.
func nodeInfos(r reader) ([]NodeInfo, error) {
	params, err := loadParams(r)
	if err != nil {
		return nil, err
	}
	all, err := stakes(r)
	if err != nil {
		return nil, err
	}
	out := make([]NodeInfo, 0, len(all))
	for _, st := range all {
		out = append(out, nodeInfo(st, params))
	}
	return out, nil
}

// validatorInfos answers /validators: the table CometBFT counts and every
// staked validator, by power, then stake, then key.
func validatorInfos(r reader, height int64) ([]ValidatorInfo, error) {
	params, err := loadParams(r)
	if err != nil {
		return nil, err
	}
	applied, err := appliedSet(r)
	if err != nil {
		return nil, err
	}
	all, err := stakes(r)
	if err != nil {
		return nil, err
	}
	out := []ValidatorInfo{}
	staked := map[string]bool{}
	for _, st := range all {
		if st.ConsPubKey == nil {
			continue
		}
		pub := string(st.ConsPubKey)
		staked[pub] = true
		v := ValidatorInfo{Address: st.Address.String(), PubKey: hexKey(st.ConsPubKey), PeerID: st.PeerID,
			Power: applied[pub], Stake: st.Bonded}
		switch {
		case st.Tombstoned:
			v.Status = "tombstoned"
		case st.Jailed:
			v.Status = "jailed"
			if st.JailedUntil > 0 {
				v.JailedUntil = time.Unix(0, st.JailedUntil).UTC().Format(time.RFC3339)
			}
		case v.Power > 0:
			v.Status = "active"
		default:
			v.Status = "inactive"
		}
		var misses []int64
		if _, err := getCBOR(r, keyLiveness(st.ConsPubKey), &misses); err != nil {
			return nil, err
		}
		for _, h := range misses {
			if h > height-int64(params.SignedWindow) {
				v.Missed++
			}
		}
		out = append(out, v)
	}
	for pub, power := range applied {
		if !staked[pub] && power > 0 {
			out = append(out, ValidatorInfo{PubKey: hexKey([]byte(pub)), Power: power, Stake: uint64(power), Status: "active"})
		}
	}
	slices.SortFunc(out, func(x, y ValidatorInfo) int {
		switch {
		case x.Power != y.Power:
			return cmp.Compare(y.Power, x.Power)
		case x.Stake != y.Stake:
			return cmp.Compare(y.Stake, x.Stake)
		}
		return strings.Compare(x.PubKey, y.PubKey)
	})
	return out, nil
}
