package abci

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
)

// keysWithPrefix lists the keys under prefix that r holds, in key order:
// those of the saved tree under it and those its overlays staged, less the
// ones they deleted.
func keysWithPrefix(r reader, prefix string) ([]string, error) {
	seen := map[string]bool{}
	var collect func(r reader) error
	collect = func(r reader) error {
		switch v := r.(type) {
		case *overlay:
			for k := range v.writes {
				if strings.HasPrefix(k, prefix) {
					seen[k] = true
				}
			}
			return collect(v.parent)
		case treeReader:
			return scan(v.t, prefix, func(k, _ []byte) (bool, error) {
				seen[string(k)] = true
				return true, nil
			})
		}
		return nil
	}
	if err := collect(r); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		if _, ok, err := r.get(k); err != nil {
			return nil, err
		} else if ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// appliedSet reads the validator table CometBFT has been told: pub → power.
func appliedSet(r reader) (map[string]int64, error) {
	keys, err := keysWithPrefix(r, prefixValidator)
	if err != nil {
		return nil, err
	}
	set := make(map[string]int64, len(keys))
	for _, k := range keys {
		b, _, err := r.get(k)
		if err != nil {
			return nil, err
		}
		p, err := DecodeValidatorPower(b)
		if err != nil {
			return nil, err
		}
		set[k[len(prefixValidator):]] = p
	}
	return set, nil
}

// endBlock runs after a block's transactions, in this order: liveness from
// the last commit's votes, evidence of double signing, matured unbondings,
// then the validator updates the changes call for. It writes nothing when
// nothing happened, so a quiet block keeps the app hash.
func (a *App) endBlock(o *overlay, req *abcitypes.RequestFinalizeBlock) ([]abcitypes.ValidatorUpdate, []abcitypes.Event, error) {
	params, err := loadParams(o)
	if err != nil {
		return nil, nil, err
	}
	var events []abcitypes.Event
	ev, err := a.trackLiveness(o, params, req)
	if err != nil {
		return nil, nil, err
	}
	events = append(events, ev...)
	ev, err = a.punishDoubleSigns(o, params, req)
	if err != nil {
		return nil, nil, err
	}
	events = append(events, ev...)
	ev, err = releaseMatured(o, req.Time)
	if err != nil {
		return nil, nil, err
	}
	events = append(events, ev...)
	updates, ev, err := updateValidatorSet(o, params)
	if err != nil {
		return nil, nil, err
	}
	return updates, append(events, ev...), nil
}

// stakeOfConsAddress finds the registration behind a CometBFT validator
// address; had is false for a validator no account is bound to.
func stakeOfConsAddress(o *overlay, consAddr []byte) (pub []byte, st Stake, had bool, err error) {
	pub, ok, err := o.get(keyConsAddr(consAddr))
	if err != nil || !ok {
		return nil, Stake{}, false, err
	}
	acct, ok, err := o.get(keyBinding(pub))
	if err != nil || !ok {
		return nil, Stake{}, false, err
	}
	var addr Address
	copy(addr[:], acct)
	st, had, err = getStake(o, addr)
	return pub, st, had, err
}

// trackLiveness records the validators absent from the last commit and
// jails one that missed more than (1 - min_signed) of the signed window.
// Only misses are written (as heights), so a block every validator signed
// writes nothing.
func (a *App) trackLiveness(o *overlay, params Params, req *abcitypes.RequestFinalizeBlock) ([]abcitypes.Event, error) {
	var events []abcitypes.Event
	window := int64(params.SignedWindow)
	maxMissed := window - window*int64(params.MinSignedPermille)/1000
	for _, vote := range req.DecidedLastCommit.Votes {
		if vote.BlockIdFlag != cmtproto.BlockIDFlagAbsent {
			continue
		}
		pub, st, had, err := stakeOfConsAddress(o, vote.Validator.Address)
		if err != nil {
			return nil, internal(err)
		}
		if !had || st.Jailed {
			continue // a genesis-fixed validator is not subject to staking
		}
		var misses []int64
		if _, err := getCBOR(o, keyLiveness(pub), &misses); err != nil {
			return nil, internal(err)
		}
		misses = append(slices.DeleteFunc(misses, func(h int64) bool { return h <= req.Height-window }), req.Height)
		if int64(len(misses)) <= maxMissed {
			if err := setCBOR(o, keyLiveness(pub), misses); err != nil {
				return nil, err
			}
			continue
		}
		st.Jailed = true
		st.JailedUntil = req.Time.Add(time.Duration(params.JailTime)).UnixNano()
		if err := putStake(o, st); err != nil {
			return nil, err
		}
		o.del(keyLiveness(pub))
		markSetDirty(o)
		events = append(events, event(EventJailed, "address", st.Address.String(), "pub_key", hexKey(pub),
			"reason", "missed_blocks", "missed", strconv.Itoa(len(misses)),
			"jailed_until", time.Unix(0, st.JailedUntil).UTC().Format(time.RFC3339)))
	}
	return events, nil
}

// punishDoubleSigns slashes and tombstones each validator CometBFT reports
// for a duplicate vote (or a light client attack).
func (a *App) punishDoubleSigns(o *overlay, params Params, req *abcitypes.RequestFinalizeBlock) ([]abcitypes.Event, error) {
	var events []abcitypes.Event
	for _, m := range req.Misbehavior {
		pub, st, had, err := stakeOfConsAddress(o, m.Validator.Address)
		if err != nil {
			return nil, internal(err)
		}
		if !had || st.Tombstoned {
			continue
		}
		slash := func(v uint64) uint64 { return v * uint64(params.SlashDoubleSignPermille) / 1000 }
		burned := slash(st.Bonded)
		st.Bonded -= burned
		for i := range st.Unbonding {
			cut := slash(st.Unbonding[i].Amount)
			st.Unbonding[i].Amount -= cut
			burned += cut
		}
		st.Tombstoned, st.Jailed = true, true
		st.JailedUntil = 0
		if err := putStake(o, st); err != nil {
			return nil, err
		}
		markSetDirty(o)
		events = append(events, event(EventSlashed, "address", st.Address.String(), "pub_key", hexKey(pub),
			"reason", m.Type.String(), "burned", strconv.FormatUint(burned, 10), "height", strconv.FormatInt(m.Height, 10)))
	}
	return events, nil
}

// releaseMatured returns unbonded stake whose release time has passed.
func releaseMatured(o *overlay, now time.Time) ([]abcitypes.Event, error) {
	keys, err := keysWithPrefix(o, prefixUnbonding)
	if err != nil {
		return nil, internal(err)
	}
	var events []abcitypes.Event
	for _, k := range keys {
		rest := k[len(prefixUnbonding):]
		if len(rest) != 8+len(Address{}) {
			return nil, internal(fmt.Errorf("unbonding queue key of %d bytes", len(rest)))
		}
		if int64(binary.BigEndian.Uint64([]byte(rest[:8]))) > now.UnixNano() {
			break // keys sort by release time
		}
		var addr Address
		copy(addr[:], rest[8:])
		o.del(k)
		st, had, err := getStake(o, addr)
		if err != nil {
			return nil, internal(err)
		}
		if !had {
			continue
		}
		var released uint64
		kept := st.Unbonding[:0]
		for _, u := range st.Unbonding {
			if !u.ReleaseTime.After(now) {
				released += u.Amount
			} else {
				kept = append(kept, u)
			}
		}
		if released == 0 {
			continue
		}
		st.Unbonding = kept
		bal, err := getBalance(o, addr)
		if err != nil {
			return nil, internal(err)
		}
		if err := setBalance(o, addr, bal+released); err != nil {
			return nil, err
		}
		if err := putStake(o, st); err != nil {
			return nil, err
		}
		events = append(events, event(EventUnbondingMatured, "address", addr.String(), "amount", strconv.FormatUint(released, 10)))
	}
	return events, nil
}

// desiredSet is the validator set the stakes call for: every genesis-fixed
// validator (one in the table with no account bound to it) at its power,
// and the top max_validators staked validators that are neither jailed nor
// tombstoned and bond at least min_validator_stake, with power = stake.
func desiredSet(o *overlay, params Params, applied map[string]int64) (map[string]int64, error) {
	want := map[string]int64{}
	for pub, power := range applied {
		if _, bound, err := o.get(keyBinding([]byte(pub))); err != nil {
			return nil, err
		} else if !bound {
			want[pub] = power
		}
	}
	keys, err := keysWithPrefix(o, prefixStake)
	if err != nil {
		return nil, err
	}
	type cand struct {
		pub   string
		stake uint64
	}
	var cands []cand
	for _, k := range keys {
		var addr Address
		copy(addr[:], k[len(prefixStake):])
		st, _, err := getStake(o, addr)
		if err != nil {
			return nil, err
		}
		if st.ConsPubKey == nil || st.Jailed || st.Tombstoned || st.Bonded < params.MinValidatorStake {
			continue
		}
		cands = append(cands, cand{string(st.ConsPubKey), st.Bonded})
	}
	slices.SortFunc(cands, func(x, y cand) int {
		if x.stake != y.stake {
			if x.stake > y.stake {
				return -1
			}
			return 1
		}
		return strings.Compare(x.pub, y.pub)
	})
	if len(cands) > int(params.MaxValidators) {
		cands = cands[:params.MaxValidators]
	}
	for _, c := range cands {
		want[c.pub] = int64(c.stake)
	}
	return want, nil
}

// updateValidatorSet moves the table CometBFT knows towards the desired
// set, when a stake changed in this block or an earlier block left changes
// undone. The updates it returns never reach CometBFT in a form that could
// halt it: sorted by key and one per key; a removal only of a validator in
// the table; never leaving the table empty; and with a total power change
// below a third of the table's power (3 × change < total), the rest applied
// in later blocks.
func updateValidatorSet(o *overlay, params Params) ([]abcitypes.ValidatorUpdate, []abcitypes.Event, error) {
	if _, dirty, err := o.get(keySetDirty); err != nil {
		return nil, nil, internal(err)
	} else if !dirty {
		return nil, nil, nil
	}
	applied, err := appliedSet(o)
	if err != nil {
		return nil, nil, internal(err)
	}
	want, err := desiredSet(o, params, applied)
	if err != nil {
		return nil, nil, internal(err)
	}
	changes := planUpdates(applied, want)
	for _, c := range changes {
		if c.Power == 0 {
			o.del(keyValidator([]byte(c.pub)))
		} else {
			var p [8]byte
			binary.BigEndian.PutUint64(p[:], uint64(c.Power))
			o.set(keyValidator([]byte(c.pub)), p[:])
		}
		applied[c.pub] = c.Power
	}
	if sameSet(applied, want) {
		o.del(keySetDirty)
	}
	updates := make([]abcitypes.ValidatorUpdate, len(changes))
	var events []abcitypes.Event
	for i, c := range changes {
		updates[i] = abcitypes.ValidatorUpdate{
			PubKey: cmtcrypto.PublicKey{Sum: &cmtcrypto.PublicKey_Ed25519{Ed25519: []byte(c.pub)}},
			Power:  c.Power,
		}
		events = append(events, event(EventValidatorSet, "pub_key", hexKey([]byte(c.pub)), "power", strconv.FormatInt(c.Power, 10)))
	}
	return updates, events, nil
}

// change is one planned validator update.
type change struct {
	pub   string
	Power int64
}

// planUpdates is the pure rule behind updateValidatorSet: the changes, in
// key order, that move applied towards want within this block's budget.
func planUpdates(applied, want map[string]int64) []change {
	if len(want) == 0 {
		return nil // no candidate at all: keep the set there is
	}
	var total int64
	live := 0
	for _, p := range applied {
		total += p
		if p > 0 {
			live++
		}
	}
	budget := (total - 1) / 3 // 3 × used < total
	if total == 0 {
		budget = 0
	}
	keys := make([]string, 0, len(applied)+len(want))
	for k := range applied {
		keys = append(keys, k)
	}
	for k := range want {
		if _, ok := applied[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []change
	var used int64
	for _, k := range keys {
		cur, target := applied[k], want[k]
		if cur == target {
			continue
		}
		room := budget - used
		if room <= 0 {
			break
		}
		delta := target - cur
		step := delta
		if step > room {
			step = room
		} else if -step > room {
			step = -room
		}
		next := cur + step
		if cur > 0 && next == 0 && live == 1 {
			continue // never empty the set
		}
		if cur > 0 && next == 0 {
			live--
		} else if cur == 0 && next > 0 {
			live++
		}
		used += abs64(step)
		out = append(out, change{pub: k, Power: next})
	}
	return out
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func sameSet(a, b map[string]int64) bool {
	norm := func(m map[string]int64) map[string]int64 {
		out := map[string]int64{}
		for k, v := range m {
			if v != 0 {
				out[k] = v
			}
		}
		return out
	}
	x, y := norm(a), norm(b)
	if len(x) != len(y) {
		return false
	}
	for k, v := range x {
		if y[k] != v {
			return false
		}
	}
	return true
}
