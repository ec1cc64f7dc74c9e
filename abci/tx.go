package abci

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// MaxTxBytes is the protocol limit on an encoded transaction. It is a
// constant, not configuration, because FinalizeBlock enforces it and every
// node must agree. Config.MaxTxBytes may only lower it for the local mempool.
const MaxTxBytes = 16 << 10

// MaxChainIDLen bounds the chain id mixed into signatures (CometBFT allows 50).
const MaxChainIDLen = 255

// signDomain separates xnode transaction signatures from any other use of
// the same key.
const signDomain = "xnode/tx/v1\x00"

// Kind says which payload an envelope carries.
type Kind uint8

// Transaction kinds. Never renumber.
const (
	KindRegisterNamespace Kind = 1
	KindSubmitRecord      Kind = 2
	KindAttest            Kind = 3
	KindParamChange       Kind = 4
	KindSend              Kind = 5
	KindCreateValidator   Kind = 6
	KindRegisterNode      Kind = 7
	KindBond              Kind = 8
	KindUnbond            Kind = 9
	KindUnjail            Kind = 10
	KindNamespaceAllow    Kind = 11
	KindNamespaceDisallow Kind = 12
)

func (k Kind) String() string {
	switch k {
	case KindRegisterNamespace:
		return "register_namespace"
	case KindSubmitRecord:
		return "submit_record"
	case KindAttest:
		return "attest"
	case KindParamChange:
		return "param_change"
	case KindSend:
		return "send"
	case KindCreateValidator:
		return "create_validator"
	case KindRegisterNode:
		return "register_node"
	case KindBond:
		return "bond"
	case KindUnbond:
		return "unbond"
	case KindUnjail:
		return "unjail"
	case KindNamespaceAllow:
		return "namespace_allow"
	case KindNamespaceDisallow:
		return "namespace_disallow"
	}
	return fmt.Sprintf("kind_%d", uint8(k))
}

// Payload is one of *RegisterNamespace, *SubmitRecord, *Attest,
// *ParamChange, or a staking payload (staking_tx.go).
type Payload interface {
	Kind() Kind
	// ValidateBasic checks the payload on its own, without state.
	ValidateBasic() error
}

// RegisterNamespace claims a namespace for the signer; first come, first served.
type RegisterNamespace struct {
	_    struct{} `cbor:",toarray"`
	Name string
}

// SubmitRecord binds namespace/key to a root CID and size. Only the owner of
// the namespace may submit; each submit of the same key is a new version.
type SubmitRecord struct {
	_         struct{} `cbor:",toarray"`
	Namespace string
	Key       string
	CID       string
	Size      uint64
}

// Attest is a validator's verdict on one version of a record: OK when every
// block matched its CID and the size matched, else a mismatch with a Reason.
type Attest struct {
	_         struct{} `cbor:",toarray"`
	Namespace string
	Key       string
	Version   uint64
	CID       string
	OK        bool
	Reason    string
}

// ParamChange replaces the network parameters; only genesis admins may sign it.
type ParamChange struct {
	_      struct{} `cbor:",toarray"`
	Params Params
}

// Kind implements Payload.
func (*RegisterNamespace) Kind() Kind { return KindRegisterNamespace }

// Kind implements Payload.
func (*SubmitRecord) Kind() Kind { return KindSubmitRecord }

// Kind implements Payload.
func (*Attest) Kind() Kind { return KindAttest }

// Kind implements Payload.
func (*ParamChange) Kind() Kind { return KindParamChange }

// ValidateBasic implements Payload.
func (p *RegisterNamespace) ValidateBasic() error { return ValidateNamespace(p.Name) }

// ValidateBasic implements Payload.
func (p *SubmitRecord) ValidateBasic() error {
	if err := ValidateNamespace(p.Namespace); err != nil {
		return err
	}
	if err := ValidateKey(p.Key); err != nil {
		return err
	}
	return ValidateCID(p.CID)
}

// MaxReasonLen bounds Attest.Reason in bytes.
const MaxReasonLen = 256

// ValidateBasic implements Payload.
func (p *Attest) ValidateBasic() error {
	if err := ValidateNamespace(p.Namespace); err != nil {
		return err
	}
	if err := ValidateKey(p.Key); err != nil {
		return err
	}
	if p.Version < 1 {
		return reject(ErrInvalid, "attest version must be >= 1")
	}
	if err := ValidateCID(p.CID); err != nil {
		return err
	}
	if len(p.Reason) > MaxReasonLen {
		return reject(ErrInvalid, "attest reason is %d bytes, limit %d", len(p.Reason), MaxReasonLen)
	}
	return nil
}

// ValidateBasic implements Payload.
func (p *ParamChange) ValidateBasic() error {
	if err := p.Params.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// Envelope is a decoded transaction. Its wire form is the canonical CBOR
// array [kind, signer, nonce, payload, signature], where payload is the
// kind's CBOR array. The signature covers
//
//	"xnode/tx/v1\x00" || len(chain-id) as one byte || chain-id || [kind, signer, nonce, payload]
//
// (the envelope without its signature, as a 4-element canonical CBOR array).
// The length byte keeps one chain id from being a prefix of another.
type Envelope struct {
	Kind      Kind
	Signer    ed25519.PublicKey
	Nonce     uint64
	Payload   Payload
	Signature []byte

	unsigned []byte // canonical encoding of the first four fields
}

type wireEnvelope struct {
	_         struct{} `cbor:",toarray"`
	Kind      uint8
	Signer    []byte
	Nonce     uint64
	Payload   cbor.RawMessage
	Signature []byte
}

type wireUnsigned struct {
	_       struct{} `cbor:",toarray"`
	Kind    uint8
	Signer  []byte
	Nonce   uint64
	Payload cbor.RawMessage
}

var (
	encMode cbor.EncMode
	// decMode is strict and tight for untrusted transactions.
	decMode cbor.DecMode
	// stateDecMode reads values this package wrote; only the container
	// limits differ (a record may hold one attestation per validator).
	stateDecMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(fmt.Sprintf("abci: cbor enc mode: %v", err))
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
		MaxNestedLevels:   8,
		MaxArrayElements:  64,
		MaxMapPairs:       64,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("abci: cbor dec mode: %v", err))
	}
	stateDecMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
		MaxArrayElements:  1 << 26,
	}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("abci: cbor state dec mode: %v", err))
	}
}

// DecodeTx decodes a transaction without checking its signature. It rejects,
// with ErrTooLarge, anything over MaxTxBytes before decoding, and with
// ErrBadEncoding trailing bytes, unknown kinds and fields, wrong key or
// signature lengths, and any encoding that is not the canonical one (the
// decoded value is re-encoded and must give back the same bytes), so each
// transaction has exactly one byte form. It never panics.
func DecodeTx(b []byte) (*Envelope, error) {
	if len(b) > MaxTxBytes {
		return nil, reject(ErrTooLarge, "%d bytes, limit %d", len(b), MaxTxBytes)
	}
	var w wireEnvelope
	if err := decMode.Unmarshal(b, &w); err != nil {
		return nil, reject(ErrBadEncoding, "%v", err)
	}
	if len(w.Signer) != ed25519.PublicKeySize {
		return nil, reject(ErrBadEncoding, "signer is %d bytes, want %d", len(w.Signer), ed25519.PublicKeySize)
	}
	if len(w.Signature) != ed25519.SignatureSize {
		return nil, reject(ErrBadEncoding, "signature is %d bytes, want %d", len(w.Signature), ed25519.SignatureSize)
	}
	payload, err := newPayload(Kind(w.Kind))
	if err != nil {
		return nil, err
	}
	if err := decMode.Unmarshal(w.Payload, payload); err != nil {
		return nil, reject(ErrBadEncoding, "%s payload: %v", Kind(w.Kind), err)
	}
	env := &Envelope{
		Kind:      Kind(w.Kind),
		Signer:    ed25519.PublicKey(w.Signer),
		Nonce:     w.Nonce,
		Payload:   payload,
		Signature: w.Signature,
	}
	canonical, unsigned, err := env.encode()
	if err != nil {
		return nil, reject(ErrBadEncoding, "%v", err)
	}
	if !bytes.Equal(canonical, b) {
		return nil, reject(ErrBadEncoding, "not the canonical encoding")
	}
	env.unsigned = unsigned
	return env, nil
}

func newPayload(k Kind) (Payload, error) {
	switch k {
	case KindRegisterNamespace:
		return &RegisterNamespace{}, nil
	case KindSubmitRecord:
		return &SubmitRecord{}, nil
	case KindAttest:
		return &Attest{}, nil
	case KindParamChange:
		return &ParamChange{}, nil
	case KindSend:
		return &Send{}, nil
	case KindCreateValidator:
		return &CreateValidator{}, nil
	case KindRegisterNode:
		return &RegisterNode{}, nil
	case KindBond:
		return &Bond{}, nil
	case KindUnbond:
		return &Unbond{}, nil
	case KindUnjail:
		return &Unjail{}, nil
	case KindNamespaceAllow:
		return &NamespaceAllow{}, nil
	case KindNamespaceDisallow:
		return &NamespaceDisallow{}, nil
	}
	return nil, reject(ErrBadEncoding, "unknown kind %d", uint8(k))
}

// encode returns the canonical encoding of the whole envelope and of its
// unsigned part.
func (e *Envelope) encode() (full, unsigned []byte, err error) {
	if e.Payload == nil || e.Payload.Kind() != e.Kind {
		return nil, nil, errors.New("payload does not match kind")
	}
	p, err := encMode.Marshal(e.Payload)
	if err != nil {
		return nil, nil, fmt.Errorf("encode payload: %w", err)
	}
	unsigned, err = encMode.Marshal(wireUnsigned{Kind: uint8(e.Kind), Signer: e.Signer, Nonce: e.Nonce, Payload: p})
	if err != nil {
		return nil, nil, fmt.Errorf("encode envelope: %w", err)
	}
	full, err = encMode.Marshal(wireEnvelope{Kind: uint8(e.Kind), Signer: e.Signer, Nonce: e.Nonce, Payload: p, Signature: e.Signature})
	if err != nil {
		return nil, nil, fmt.Errorf("encode envelope: %w", err)
	}
	return full, unsigned, nil
}

func signBytes(chainID string, unsigned []byte) []byte {
	msg := make([]byte, 0, len(signDomain)+1+len(chainID)+len(unsigned))
	msg = append(msg, signDomain...)
	msg = append(msg, byte(len(chainID)))
	msg = append(msg, chainID...)
	return append(msg, unsigned...)
}

// Verify checks the signature for chainID. A transaction signed for another
// chain fails here with ErrBadSignature.
func (e *Envelope) Verify(chainID string) error {
	if len(chainID) > MaxChainIDLen {
		return reject(ErrBadSignature, "chain id longer than %d bytes", MaxChainIDLen)
	}
	unsigned := e.unsigned
	if unsigned == nil {
		var err error
		if _, unsigned, err = e.encode(); err != nil {
			return reject(ErrBadEncoding, "%v", err)
		}
	}
	if len(e.Signer) != ed25519.PublicKeySize || len(e.Signature) != ed25519.SignatureSize {
		return reject(ErrBadSignature, "malformed key or signature")
	}
	if !ed25519.Verify(e.Signer, signBytes(chainID, unsigned), e.Signature) {
		return ErrBadSignature
	}
	return nil
}

// Sign builds, validates and signs a transaction carrying payload and
// returns its encoding. The nonce may be any value the key has not used on
// this chain before (a random or clock-derived value works; nonces need not
// be sequential).
func Sign(priv ed25519.PrivateKey, chainID string, nonce uint64, payload Payload) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("abci: sign: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	if len(chainID) > MaxChainIDLen {
		return nil, fmt.Errorf("abci: sign: chain id longer than %d bytes", MaxChainIDLen)
	}
	if err := payload.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("abci: sign %s: %w", payload.Kind(), err)
	}
	env := &Envelope{
		Kind:    payload.Kind(),
		Signer:  priv.Public().(ed25519.PublicKey),
		Nonce:   nonce,
		Payload: payload,
	}
	_, unsigned, err := env.encode()
	if err != nil {
		return nil, fmt.Errorf("abci: sign: %w", err)
	}
	env.Signature = ed25519.Sign(priv, signBytes(chainID, unsigned))
	full, _, err := env.encode()
	if err != nil {
		return nil, fmt.Errorf("abci: sign: %w", err)
	}
	if len(full) > MaxTxBytes {
		return nil, reject(ErrTooLarge, "%d bytes, limit %d", len(full), MaxTxBytes)
	}
	return full, nil
}

// NewRegisterNamespace builds a signed RegisterNamespace transaction.
func NewRegisterNamespace(priv ed25519.PrivateKey, chainID string, nonce uint64, name string) ([]byte, error) {
	return Sign(priv, chainID, nonce, &RegisterNamespace{Name: name})
}

// NewSubmitRecord builds a signed SubmitRecord transaction; cid is the root
// CID in its base32 CIDv1 string form.
func NewSubmitRecord(priv ed25519.PrivateKey, chainID string, nonce uint64, namespace, key, cid string, size uint64) ([]byte, error) {
	return Sign(priv, chainID, nonce, &SubmitRecord{Namespace: namespace, Key: key, CID: cid, Size: size})
}

// NewAttest builds a signed Attest transaction; priv must be a validator's
// consensus key.
func NewAttest(priv ed25519.PrivateKey, chainID string, nonce uint64, a Attest) ([]byte, error) {
	return Sign(priv, chainID, nonce, &a)
}

// NewParamChange builds a signed ParamChange transaction; priv must be a
// genesis admin key.
func NewParamChange(priv ed25519.PrivateKey, chainID string, nonce uint64, p Params) ([]byte, error) {
	return Sign(priv, chainID, nonce, &ParamChange{Params: p})
}
