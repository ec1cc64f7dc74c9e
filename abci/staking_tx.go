package abci

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"

	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// MaxPeerIDLen bounds a peer id's text form (an ed25519 peer id is 52).
const MaxPeerIDLen = 128

// bindDomain separates binding signatures from every other use of a key.
const bindDomain = "xnode/bind/v1\x00"

// Send moves Amount tokens from the signer's balance to To.
type Send struct {
	_      struct{} `cbor:",toarray"`
	To     []byte   // 20-byte Address
	Amount uint64
}

// CreateValidator bonds Stake from the signer's balance to a validator
// whose consensus key is ConsPubKey, run by the node whose libp2p peer id
// is PeerID. Both the consensus key (ConsSig) and the peer's identity key
// (PeerSig) sign BindingBytes, so nobody can claim a node or a key that is
// not theirs. It also admits the peer to placement. An account that
// registered the same peer with RegisterNode upgrades it to a validator.
type CreateValidator struct {
	_          struct{} `cbor:",toarray"`
	ConsPubKey []byte
	PeerID     string
	Stake      uint64
	ConsSig    []byte
	PeerSig    []byte
}

// RegisterNode admits the node with libp2p peer id PeerID to placement,
// bonding Stake (at least the min_node_stake parameter); PeerSig is the
// peer identity key's signature of BindingBytes.
type RegisterNode struct {
	_       struct{} `cbor:",toarray"`
	PeerID  string
	Stake   uint64
	PeerSig []byte
}

// Bond adds Amount from the signer's balance to its registration's stake.
type Bond struct {
	_      struct{} `cbor:",toarray"`
	Amount uint64
}

// Unbond starts returning Amount of the signer's stake; it reaches the
// balance after the unbonding_time parameter and stays slashable until then.
type Unbond struct {
	_      struct{} `cbor:",toarray"`
	Amount uint64
}

// Unjail returns the signer's jailed validator to the candidates once its
// jail time has passed.
type Unjail struct {
	_ struct{} `cbor:",toarray"`
}

// NamespaceAllow lets PeerID publish the namespace's services; only the
// namespace's owner may sign it.
type NamespaceAllow struct {
	_         struct{} `cbor:",toarray"`
	Namespace string
	PeerID    string
}

// NamespaceDisallow withdraws NamespaceAllow.
type NamespaceDisallow struct {
	_         struct{} `cbor:",toarray"`
	Namespace string
	PeerID    string
}

// Kind implements Payload.
func (*Send) Kind() Kind { return KindSend }

// Kind implements Payload.
func (*CreateValidator) Kind() Kind { return KindCreateValidator }

// Kind implements Payload.
func (*RegisterNode) Kind() Kind { return KindRegisterNode }

// Kind implements Payload.
func (*Bond) Kind() Kind { return KindBond }

// Kind implements Payload.
func (*Unbond) Kind() Kind { return KindUnbond }

// Kind implements Payload.
func (*Unjail) Kind() Kind { return KindUnjail }

// Kind implements Payload.
func (*NamespaceAllow) Kind() Kind { return KindNamespaceAllow }

// Kind implements Payload.
func (*NamespaceDisallow) Kind() Kind { return KindNamespaceDisallow }

// ValidateBasic implements Payload.
func (p *Send) ValidateBasic() error {
	if len(p.To) != len(Address{}) {
		return reject(ErrInvalid, "send: recipient is %d bytes, want %d", len(p.To), len(Address{}))
	}
	if p.Amount == 0 {
		return reject(ErrInvalid, "send: amount must be positive")
	}
	return nil
}

// ValidateBasic implements Payload.
func (p *CreateValidator) ValidateBasic() error {
	if len(p.ConsPubKey) != ed25519.PublicKeySize {
		return reject(ErrInvalid, "create_validator: consensus key is %d bytes, want %d", len(p.ConsPubKey), ed25519.PublicKeySize)
	}
	if len(p.ConsSig) != ed25519.SignatureSize {
		return reject(ErrBadBinding, "create_validator: consensus key signature is %d bytes, want %d", len(p.ConsSig), ed25519.SignatureSize)
	}
	if err := validatePeer(p.PeerID, p.PeerSig); err != nil {
		return err
	}
	if p.Stake == 0 {
		return reject(ErrInvalid, "create_validator: stake must be positive")
	}
	return nil
}

// ValidateBasic implements Payload.
func (p *RegisterNode) ValidateBasic() error {
	if err := validatePeer(p.PeerID, p.PeerSig); err != nil {
		return err
	}
	if p.Stake == 0 {
		return reject(ErrInvalid, "register_node: stake must be positive")
	}
	return nil
}

// ValidateBasic implements Payload.
func (p *Bond) ValidateBasic() error {
	if p.Amount == 0 {
		return reject(ErrInvalid, "bond: amount must be positive")
	}
	return nil
}

// ValidateBasic implements Payload.
func (p *Unbond) ValidateBasic() error {
	if p.Amount == 0 {
		return reject(ErrInvalid, "unbond: amount must be positive")
	}
	return nil
}

// ValidateBasic implements Payload.
func (*Unjail) ValidateBasic() error { return nil }

// ValidateBasic implements Payload.
func (p *NamespaceAllow) ValidateBasic() error {
	if err := ValidateNamespace(p.Namespace); err != nil {
		return err
	}
	return validatePeerID(p.PeerID)
}

// ValidateBasic implements Payload.
func (p *NamespaceDisallow) ValidateBasic() error {
	if err := ValidateNamespace(p.Namespace); err != nil {
		return err
	}
	return validatePeerID(p.PeerID)
}

func validatePeerID(id string) error {
	if len(id) == 0 || len(id) > MaxPeerIDLen {
		return reject(ErrInvalid, "peer id must be 1-%d characters, got %d", MaxPeerIDLen, len(id))
	}
	p, err := peer.Decode(id)
	if err != nil {
		return reject(ErrInvalid, "peer id %q: %v", truncate(id), err)
	}
	if p.String() != id {
		return reject(ErrInvalid, "peer id %q is not in its canonical form %s", truncate(id), p)
	}
	return nil
}

func validatePeer(id string, sig []byte) error {
	if err := validatePeerID(id); err != nil {
		return err
	}
	if len(sig) == 0 || len(sig) > 1024 {
		return reject(ErrBadBinding, "peer signature must be 1-1024 bytes, got %d", len(sig))
	}
	return nil
}

// BindingBytes is what a node's keys sign to bind themselves to an
// account: the domain, the chain id, the account's address, the peer id
// and the consensus public key (empty for a node that is not a validator),
// each length-prefixed.
func BindingBytes(chainID string, account Address, peerID string, consPub []byte) []byte {
	var b []byte
	b = append(b, bindDomain...)
	b = binary.AppendUvarint(b, uint64(len(chainID)))
	b = append(b, chainID...)
	b = append(b, account[:]...)
	b = binary.AppendUvarint(b, uint64(len(peerID)))
	b = append(b, peerID...)
	b = binary.AppendUvarint(b, uint64(len(consPub)))
	return append(b, consPub...)
}

// verifyPeerSig checks that the private key behind peerID signed msg.
func verifyPeerSig(peerID string, msg, sig []byte) error {
	id, err := peer.Decode(peerID)
	if err != nil {
		return reject(ErrInvalid, "peer id %q: %v", truncate(peerID), err)
	}
	pk, err := id.ExtractPublicKey()
	if err != nil {
		return reject(ErrBadBinding, "peer id %s does not embed its public key: %v", truncate(peerID), err)
	}
	ok, err := pk.Verify(msg, sig)
	if err != nil || !ok {
		return reject(ErrBadBinding, "the signature of peer %s over the binding does not verify", truncate(peerID))
	}
	return nil
}

// NewSend builds a signed Send transaction.
func NewSend(priv ed25519.PrivateKey, chainID string, nonce uint64, to Address, amount uint64) ([]byte, error) {
	return Sign(priv, chainID, nonce, &Send{To: to[:], Amount: amount})
}

// NewCreateValidator builds a signed CreateValidator transaction: priv is
// the account's key, consKey the node's consensus (operator) key and
// peerKey its libp2p identity key.
func NewCreateValidator(priv ed25519.PrivateKey, chainID string, nonce uint64, consKey ed25519.PrivateKey, peerKey libp2pcrypto.PrivKey, stake uint64) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize || len(consKey) != ed25519.PrivateKeySize || peerKey == nil {
		return nil, fmt.Errorf("abci: create_validator: missing or malformed key")
	}
	id, err := peer.IDFromPrivateKey(peerKey)
	if err != nil {
		return nil, fmt.Errorf("abci: create_validator: peer id: %w", err)
	}
	consPub := consKey.Public().(ed25519.PublicKey)
	msg := BindingBytes(chainID, AddressOf(priv.Public().(ed25519.PublicKey)), id.String(), consPub)
	peerSig, err := peerKey.Sign(msg)
	if err != nil {
		return nil, fmt.Errorf("abci: create_validator: peer signature: %w", err)
	}
	return Sign(priv, chainID, nonce, &CreateValidator{
		ConsPubKey: consPub, PeerID: id.String(), Stake: stake,
		ConsSig: ed25519.Sign(consKey, msg), PeerSig: peerSig,
	})
}

// NewRegisterNode builds a signed RegisterNode transaction: priv is the
// account's key and peerKey the node's libp2p identity key.
func NewRegisterNode(priv ed25519.PrivateKey, chainID string, nonce uint64, peerKey libp2pcrypto.PrivKey, stake uint64) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize || peerKey == nil {
		return nil, fmt.Errorf("abci: register_node: missing or malformed key")
	}
	id, err := peer.IDFromPrivateKey(peerKey)
	if err != nil {
		return nil, fmt.Errorf("abci: register_node: peer id: %w", err)
	}
	msg := BindingBytes(chainID, AddressOf(priv.Public().(ed25519.PublicKey)), id.String(), nil)
	sig, err := peerKey.Sign(msg)
	if err != nil {
		return nil, fmt.Errorf("abci: register_node: peer signature: %w", err)
	}
	return Sign(priv, chainID, nonce, &RegisterNode{PeerID: id.String(), Stake: stake, PeerSig: sig})
}

// NewBond builds a signed Bond transaction.
func NewBond(priv ed25519.PrivateKey, chainID string, nonce uint64, amount uint64) ([]byte, error) {
	return Sign(priv, chainID, nonce, &Bond{Amount: amount})
}

// NewUnbond builds a signed Unbond transaction.
func NewUnbond(priv ed25519.PrivateKey, chainID string, nonce uint64, amount uint64) ([]byte, error) {
	return Sign(priv, chainID, nonce, &Unbond{Amount: amount})
}

// NewUnjail builds a signed Unjail transaction.
func NewUnjail(priv ed25519.PrivateKey, chainID string, nonce uint64) ([]byte, error) {
	return Sign(priv, chainID, nonce, &Unjail{})
}

// NewNamespaceAllow builds a signed NamespaceAllow transaction.
func NewNamespaceAllow(priv ed25519.PrivateKey, chainID string, nonce uint64, namespace, peerID string) ([]byte, error) {
	return Sign(priv, chainID, nonce, &NamespaceAllow{Namespace: namespace, PeerID: peerID})
}

// NewNamespaceDisallow builds a signed NamespaceDisallow transaction.
func NewNamespaceDisallow(priv ed25519.PrivateKey, chainID string, nonce uint64, namespace, peerID string) ([]byte, error) {
	return Sign(priv, chainID, nonce, &NamespaceDisallow{Namespace: namespace, PeerID: peerID})
}
