package abci

import (
	"bytes"
	"encoding/hex"
	"strconv"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
)

// Event types emitted by FinalizeBlock (and CheckTx).
const (
	EventNamespaceRegistered = "namespace.registered"
	EventRecordSubmitted     = "record.submitted"
	EventRecordAttested      = "record.attested"
	EventParamsChanged       = "params.changed"
)

// deliverTx runs one raw transaction against o at height. The checks go
// cheapest first: size, decoding, signature, nonce. Once the signature
// verifies and the nonce is fresh, the nonce is spent in o even if the
// transaction then fails, so a signed intent is used at most once. The
// transaction's own writes go to a child overlay merged into o only on
// success. The error wraps the sentinel of its response code; a wrapped
// ErrInternal means the state could not be read.
func (a *App) deliverTx(o *overlay, raw []byte, height int64, now time.Time, limit int) ([]abcitypes.Event, error) {
	if len(raw) > limit {
		return nil, reject(ErrTooLarge, "%d bytes, limit %d", len(raw), limit)
	}
	env, err := DecodeTx(raw)
	if err != nil {
		return nil, err
	}
	if err := env.Verify(a.chainID); err != nil {
		return nil, err
	}
	nk, bit := keyNonce(env.Signer, env.Nonce)
	bucket, _, err := o.get(nk)
	if err != nil {
		return nil, internal(err)
	}
	if nonceSpent(bucket, bit) {
		return nil, reject(ErrReplay, "nonce %d of signer %x", env.Nonce, []byte(env.Signer))
	}
	o.set(nk, withNonce(bucket, bit))
	if err := env.Payload.ValidateBasic(); err != nil {
		return nil, err
	}
	tx := newOverlay(o)
	var events []abcitypes.Event
	switch p := env.Payload.(type) {
	case *RegisterNamespace:
		events, err = a.registerNamespace(tx, env.Signer, p, height)
	case *SubmitRecord:
		events, err = a.submitRecord(tx, env.Signer, p, height)
	case *Attest:
		events, err = a.attest(tx, env.Signer, p, height)
	case *ParamChange:
		events, err = a.changeParams(tx, env.Signer, p)
	case *Send:
		events, err = a.send(tx, env.Signer, p)
	case *CreateValidator:
		events, err = a.createValidator(tx, env.Signer, p)
	case *RegisterNode:
		events, err = a.registerNode(tx, env.Signer, p)
	case *Bond:
		events, err = a.bond(tx, env.Signer, p)
	case *Unbond:
		events, err = a.unbond(tx, env.Signer, p, now)
	case *Unjail:
		events, err = a.unjail(tx, env.Signer, now)
	case *NamespaceAllow:
		events, err = a.allowPublisher(tx, env.Signer, p.Namespace, p.PeerID, true)
	case *NamespaceDisallow:
		events, err = a.allowPublisher(tx, env.Signer, p.Namespace, p.PeerID, false)
	default:
		err = reject(ErrBadEncoding, "unknown payload %T", p)
	}
	if err != nil {
		return nil, err
	}
	tx.mergeInto(o)
	return events, nil
}

func internal(err error) error { return reject(ErrInternal, "%v", err) }

func (a *App) registerNamespace(o *overlay, signer []byte, p *RegisterNamespace, height int64) ([]abcitypes.Event, error) {
	if err := requireWriteBalance(o, signer); err != nil {
		return nil, err
	}
	k := keyNamespace(p.Name)
	if _, taken, err := o.get(k); err != nil {
		return nil, internal(err)
	} else if taken {
		return nil, reject(ErrConflict, "namespace %q is already registered", p.Name)
	}
	if err := setCBOR(o, k, Namespace{Name: p.Name, Owner: signer, Height: height}); err != nil {
		return nil, err
	}
	return []abcitypes.Event{event(EventNamespaceRegistered,
		"name", p.Name, "owner", hex.EncodeToString(signer))}, nil
}

// owner loads the namespace and checks that signer owns it.
func owner(o *overlay, name string, signer []byte) error {
	var ns Namespace
	if ok, err := getCBOR(o, keyNamespace(name), &ns); err != nil {
		return internal(err)
	} else if !ok {
		return reject(ErrUnknownNamespace, "namespace %q is not registered", name)
	}
	if !bytes.Equal(ns.Owner, signer) {
		return reject(ErrForeignNamespace, "namespace %q is owned by %x", name, ns.Owner)
	}
	return nil
}

func (a *App) submitRecord(o *overlay, signer []byte, p *SubmitRecord, height int64) ([]abcitypes.Event, error) {
	if err := owner(o, p.Namespace, signer); err != nil {
		return nil, err
	}
	if err := requireWriteBalance(o, signer); err != nil {
		return nil, err
	}
	k := keyRecord(p.Namespace, p.Key)
	var prev Record
	if _, err := getCBOR(o, k, &prev); err != nil {
		return nil, internal(err)
	}
	rec := Record{
		Namespace: p.Namespace,
		Key:       p.Key,
		CID:       p.CID,
		Size:      p.Size,
		Version:   prev.Version + 1,
		Owner:     signer,
		Height:    height,
		Status:    StatusPending,
	}
	if err := setCBOR(o, k, rec); err != nil {
		return nil, err
	}
	o.set(keyPending(p.Namespace, p.Key), present)
	return []abcitypes.Event{event(EventRecordSubmitted,
		"namespace", rec.Namespace, "key", rec.Key, "version", strconv.FormatUint(rec.Version, 10),
		"cid", rec.CID, "size", strconv.FormatUint(rec.Size, 10))}, nil
}

func (a *App) attest(o *overlay, signer []byte, p *Attest, height int64) ([]abcitypes.Event, error) {
	power, ok := a.validators[string(signer)]
	if !ok {
		return nil, reject(ErrNotValidator, "%x is not in the validator set", signer)
	}
	k := keyRecord(p.Namespace, p.Key)
	var rec Record
	if found, err := getCBOR(o, k, &rec); err != nil {
		return nil, internal(err)
	} else if !found {
		return nil, reject(ErrNotFound, "no record %s/%s", p.Namespace, p.Key)
	}
	if p.Version != rec.Version || p.CID != rec.CID {
		return nil, reject(ErrStale, "attestation for version %d cid %s, current is version %d cid %s",
			p.Version, p.CID, rec.Version, rec.CID)
	}
	for _, at := range rec.Attestations {
		if bytes.Equal(at.Validator, signer) {
			return nil, reject(ErrDuplicateAttestation, "%x already attested %s/%s version %d",
				signer, p.Namespace, p.Key, p.Version)
		}
	}
	rec.Attestations = append(rec.Attestations, Attestation{
		Validator: signer, Power: power, OK: p.OK, Reason: p.Reason, Height: height,
	})
	rec.Status = ComputeStatus(rec.Attestations, a.totalPower)
	if err := setCBOR(o, k, rec); err != nil {
		return nil, err
	}
	if rec.Status != StatusPending {
		o.del(keyPending(p.Namespace, p.Key))
	}
	return []abcitypes.Event{event(EventRecordAttested,
		"namespace", rec.Namespace, "key", rec.Key, "version", strconv.FormatUint(rec.Version, 10),
		"validator", hex.EncodeToString(signer), "ok", strconv.FormatBool(p.OK), "status", rec.Status)}, nil
}

func (a *App) changeParams(o *overlay, signer []byte, p *ParamChange) ([]abcitypes.Event, error) {
	if _, ok, err := o.get(keyAdmin(signer)); err != nil {
		return nil, internal(err)
	} else if !ok {
		return nil, reject(ErrUnauthorized, "%x is not a genesis admin", signer)
	}
	if err := setCBOR(o, keyParams(), p.Params); err != nil {
		return nil, err
	}
	return []abcitypes.Event{event(EventParamsChanged,
		"replication_factor", strconv.FormatUint(uint64(p.Params.ReplicationFactor), 10),
		"max_chunk_size", strconv.FormatUint(uint64(p.Params.MaxChunkSize), 10),
		"min_members", strconv.FormatUint(uint64(p.Params.MinMembers), 10))}, nil
}

// event builds an indexed event from key/value pairs.
func event(typ string, kv ...string) abcitypes.Event {
	attrs := make([]abcitypes.EventAttribute, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		attrs = append(attrs, abcitypes.EventAttribute{Key: kv[i], Value: kv[i+1], Index: true})
	}
	return abcitypes.Event{Type: typ, Attributes: attrs}
}
