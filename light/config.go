package light

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/cometbft/cometbft/crypto/tmhash"
	"github.com/cometbft/cometbft/types"
)

// Config configures a Verifier. Start from DefaultConfig, fill in ChainID
// (or let a genesis trust root supply it), Primary, Witnesses and TrustRoot,
// and Validate.
type Config struct {
	// ChainID is the chain every header must belong to. Empty takes the
	// chain id of TrustRoot.Genesis.
	ChainID string
	// Primary is the CometBFT RPC URL (http://host:port) that answers the
	// queries and supplies the headers.
	Primary string
	// Witnesses are CometBFT RPC URLs of other nodes of the same chain
	// against which CometBFT's light client cross-checks every header the
	// primary supplies. At least one is required, and none may be the
	// primary itself: a client trusts no single node.
	Witnesses []string
	// TrustRoot is what the client trusts before asking anything: the
	// genesis validator set, or a header (height and hash) obtained out of
	// band. Exactly one of the two.
	TrustRoot TrustRoot
	// TrustingPeriod is how long a verified header may be used to verify
	// newer ones (CometBFT's TrustOptions.Period). It must be shorter than
	// the time after which a validator that signed it can no longer be
	// punished. Default 14 days. A genesis trust root older than this
	// cannot verify anything: give a recent trusted height and hash.
	TrustingPeriod time.Duration
	// MaxClockDrift is how far in the future a header's time may be.
	// Default 10 s.
	MaxClockDrift time.Duration
	// MaxBlockLag is how long CometBFT's light client waits for a witness
	// that lags behind the primary before dropping it. Default 10 s (the
	// Verifier reads at the lowest height all its nodes have, so a healthy
	// witness never lags).
	MaxBlockLag time.Duration
	// RequestTimeout bounds each RPC request. Default 10 s.
	RequestTimeout time.Duration
	// Logger receives the Verifier's debug lines. Nil discards them.
	Logger *slog.Logger
	// Now is the clock used to check headers against the trusting period
	// and clock drift. Nil means time.Now.
	Now func() time.Time
}

// TrustRoot is where verification starts. Set Genesis, or Height and Hash.
type TrustRoot struct {
	// Genesis is the chain's genesis document: its validator set is
	// trusted, and block 1 must carry its hash and more than 2/3 of its
	// power in signatures.
	Genesis *types.GenesisDoc
	// Height and Hash name a header trusted out of band (for example read
	// from a node the user runs): its hash, 32 bytes.
	Height int64
	Hash   []byte
}

// GenesisRoot reads a genesis file (CometBFT's genesis.json) into a trust
// root.
func GenesisRoot(path string) (TrustRoot, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return TrustRoot{}, fmt.Errorf("light: genesis: %w", err)
	}
	doc, err := types.GenesisDocFromJSON(raw)
	if err != nil {
		return TrustRoot{}, fmt.Errorf("light: genesis %s: %w", path, err)
	}
	return TrustRoot{Genesis: doc}, nil
}

// HeaderRoot is a trust root at a header given by height and hex hash.
func HeaderRoot(height int64, hexHash string) (TrustRoot, error) {
	h, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(hexHash), "0x"))
	if err != nil {
		return TrustRoot{}, fmt.Errorf("light: trusted hash %q is not hex: %w", hexHash, err)
	}
	root := TrustRoot{Height: height, Hash: h}
	return root, root.validate()
}

func (r TrustRoot) validate() error {
	switch {
	case r.Genesis != nil && (r.Height != 0 || r.Hash != nil):
		return errors.New("light: trust root: give either a genesis or a trusted height and hash, not both")
	case r.Genesis != nil:
		if len(r.Genesis.Validators) == 0 {
			return errors.New("light: trust root: the genesis lists no validators; give a trusted height and hash instead")
		}
		return nil
	case r.Height <= 0 && r.Hash == nil:
		return errors.New("light: trust root: missing; give a genesis or a trusted height and hash")
	case r.Height <= 0:
		return fmt.Errorf("light: trust root: trusted height %d, want 1 or more", r.Height)
	case len(r.Hash) != tmhash.Size:
		return fmt.Errorf("light: trust root: trusted hash of %d bytes, want %d (hex of a header hash)", len(r.Hash), tmhash.Size)
	}
	return nil
}

// DefaultConfig returns the defaults; ChainID, Primary, Witnesses and
// TrustRoot are left for the caller.
func DefaultConfig() Config {
	return Config{
		TrustingPeriod: 14 * 24 * time.Hour,
		MaxClockDrift:  10 * time.Second,
		MaxBlockLag:    10 * time.Second,
		RequestTimeout: 10 * time.Second,
	}
}

// Validate checks the config and fills ChainID from a genesis trust root.
func (c *Config) Validate() error {
	if err := c.TrustRoot.validate(); err != nil {
		return err
	}
	if g := c.TrustRoot.Genesis; g != nil {
		if c.ChainID == "" {
			c.ChainID = g.ChainID
		} else if c.ChainID != g.ChainID {
			return fmt.Errorf("light: chain id %q, but the genesis is of chain %q", c.ChainID, g.ChainID)
		}
	}
	if c.ChainID == "" {
		return errors.New("light: chain id: missing")
	}
	if err := checkURL(c.Primary); err != nil {
		return fmt.Errorf("light: primary: %w", err)
	}
	if len(c.Witnesses) == 0 {
		return errors.New("light: witnesses: at least one witness RPC URL is required besides the primary")
	}
	seen := map[string]bool{normalURL(c.Primary): true}
	for _, w := range c.Witnesses {
		if err := checkURL(w); err != nil {
			return fmt.Errorf("light: witness: %w", err)
		}
		if seen[normalURL(w)] {
			return fmt.Errorf("light: witness %s is given twice or is the primary: each must be a different node", w)
		}
		seen[normalURL(w)] = true
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"trusting period", c.TrustingPeriod}, {"max clock drift", c.MaxClockDrift}, {"max block lag", c.MaxBlockLag}, {"request timeout", c.RequestTimeout}} {
		if d.v <= 0 {
			return fmt.Errorf("light: %s %s, want more than 0", d.name, d.v)
		}
	}
	return nil
}

func checkURL(s string) error {
	if s == "" {
		return errors.New("missing RPC URL")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("RPC URL %q: want http://HOST:PORT or https://HOST:PORT", s)
	}
	return nil
}

func normalURL(s string) string { return strings.TrimRight(strings.ToLower(s), "/") }
