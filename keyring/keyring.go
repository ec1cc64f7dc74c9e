package keyring

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Dir is the keyring's directory in a node home: <home>/keys/keyring.
func Dir(home string) string { return filepath.Join(home, "keys", "keyring") }

// fileExt is the extension of a key file.
const fileExt = ".key"

// Config describes a keyring.
type Config struct {
	// Dir holds the key files (Dir(home)); created with mode 0700 on the
	// first write. Required.
	Dir string
	// Operator reads the node's operator key, the account "operator". An
	// error wrapping fs.ErrNotExist means the home has none; nil means no
	// operator account either.
	Operator func() (ed25519.PrivateKey, error)
	// Scrypt is the cost new sealed keys are written with. Default
	// DefaultScrypt().
	Scrypt ScryptParams
	// Rand is the source of keys, salts and nonces. Default crypto/rand.
	Rand io.Reader
	// Now stamps new keys. Default time.Now.
	Now func() time.Time
}

// Validate checks the config, naming the bad field.
func (c Config) Validate() error {
	if c.Dir == "" {
		return errors.New("keyring: config: Dir is empty")
	}
	if err := c.Scrypt.Validate(); err != nil {
		return fmt.Errorf("keyring: config: Scrypt: %w", err)
	}
	return nil
}

// Key describes one key of the keyring.
type Key struct {
	Name      string
	PublicKey ed25519.PublicKey
	// Encrypted: the private key is sealed under a passphrase.
	Encrypted bool
	// Operator: this is the node's own operator key (read-only here).
	Operator bool
	// Created is when the key was added or imported (zero for the operator).
	Created time.Time
	// Path is the key's file.
	Path string
}

// Keyring is a directory of key files plus the node's operator key. It
// holds nothing open; see the package doc for concurrency.
type Keyring struct {
	cfg Config
}

// New returns the keyring cfg describes. It creates nothing.
func New(cfg Config) (*Keyring, error) {
	if cfg.Scrypt == (ScryptParams{}) {
		cfg.Scrypt = DefaultScrypt()
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Keyring{cfg: cfg}, nil
}

func (k *Keyring) path(name string) string { return filepath.Join(k.cfg.Dir, name+fileExt) }

// Add generates a key named name, sealed under passphrase unless it is empty.
func (k *Keyring) Add(name string, passphrase []byte) (Key, error) {
	if err := k.writable(name); err != nil {
		return Key{}, err
	}
	_, priv, err := ed25519.GenerateKey(k.cfg.Rand)
	if err != nil {
		return Key{}, fmt.Errorf("keyring: generate: %w", err)
	}
	return k.store(name, priv, passphrase)
}

// Import stores the private key in data (any form Parse reads) as name,
// sealed under passphrase unless it is empty.
func (k *Keyring) Import(name string, data []byte, passphrase []byte) (Key, error) {
	if err := k.writable(name); err != nil {
		return Key{}, err
	}
	priv, err := Parse(data)
	if err != nil {
		return Key{}, err
	}
	return k.store(name, priv, passphrase)
}

// writable checks that name may be written and is not taken.
func (k *Keyring) writable(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if name == OperatorName {
		return fmt.Errorf("%w: %q names the node's operator key (keys/operator.key); pick another name", ErrReadOnly, name)
	}
	if _, err := os.Lstat(k.path(name)); err == nil {
		return fmt.Errorf("%w: %q (%s)", ErrExists, name, k.path(name))
	}
	return nil
}

// store writes the key file exclusively: a temporary file, synced, then
// hard-linked to its name, which fails if another writer got there first.
func (k *Keyring) store(name string, priv ed25519.PrivateKey, passphrase []byte) (Key, error) {
	f, err := NewKeyFile(name, priv, passphrase, k.cfg.Scrypt, k.cfg.Rand, k.cfg.Now())
	if err != nil {
		return Key{}, err
	}
	if err := os.MkdirAll(k.cfg.Dir, 0o700); err != nil {
		return Key{}, fmt.Errorf("keyring: %w", err)
	}
	// A keyring directory made by hand with looser rights is tightened.
	if st, err := os.Stat(k.cfg.Dir); err == nil && st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(k.cfg.Dir, 0o700); err != nil {
			return Key{}, fmt.Errorf("keyring: %w", err)
		}
	}
	tmp, err := os.CreateTemp(k.cfg.Dir, "."+name+".tmp-*") // mode 0600
	if err != nil {
		return Key{}, fmt.Errorf("keyring: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(f.Encode()); err != nil {
		tmp.Close()
		return Key{}, fmt.Errorf("keyring: write %s: %w", name, err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return Key{}, fmt.Errorf("keyring: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return Key{}, fmt.Errorf("keyring: sync %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return Key{}, fmt.Errorf("keyring: %w", err)
	}
	if err := os.Link(tmp.Name(), k.path(name)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return Key{}, fmt.Errorf("%w: %q (%s)", ErrExists, name, k.path(name))
		}
		return Key{}, fmt.Errorf("keyring: %w", err)
	}
	syncDir(k.cfg.Dir)
	return keyOf(f, k.path(name)), nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: the key is written; a lost rename only loses it on power failure
		d.Close()
	}
}

func keyOf(f KeyFile, path string) Key {
	return Key{Name: f.Name, PublicKey: f.Public(), Encrypted: f.Encrypted(), Created: f.Created, Path: path}
}

// load reads and checks the file of key name.
func (k *Keyring) load(name string) (KeyFile, error) {
	b, err := os.ReadFile(k.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return KeyFile{}, fmt.Errorf("%w: no key named %q in %s ('xnode keys list' shows them; 'xnode keys add %s' makes one)",
			ErrNotFound, name, k.cfg.Dir, name)
	}
	if err != nil {
		return KeyFile{}, fmt.Errorf("keyring: %w", err)
	}
	f, err := DecodeKeyFile(b)
	if err != nil {
		return KeyFile{}, fmt.Errorf("%s: %w", k.path(name), err)
	}
	if f.Name != name {
		return KeyFile{}, fmt.Errorf("%w: %s names key %q, not %q", ErrBadKeyFile, k.path(name), f.Name, name)
	}
	return f, nil
}

// operator reads the operator key; ok is false when there is none.
func (k *Keyring) operator() (priv ed25519.PrivateKey, ok bool, err error) {
	if k.cfg.Operator == nil {
		return nil, false, nil
	}
	priv, err = k.cfg.Operator()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("keyring: operator key: %w", err)
	}
	return priv, true, nil
}

func operatorKey(priv ed25519.PrivateKey) Key {
	return Key{Name: OperatorName, PublicKey: priv.Public().(ed25519.PublicKey), Operator: true}
}

var errNoOperator = fmt.Errorf("%w: no operator key: this home has no node (keys/operator.key); run 'xnode init' or point --home at a node's home", ErrNotFound)

// Show describes key name. It never needs a passphrase.
func (k *Keyring) Show(name string) (Key, error) {
	if err := ValidateName(name); err != nil {
		return Key{}, err
	}
	if name == OperatorName {
		priv, ok, err := k.operator()
		if err != nil {
			return Key{}, err
		}
		if !ok {
			return Key{}, errNoOperator
		}
		return operatorKey(priv), nil
	}
	f, err := k.load(name)
	if err != nil {
		return Key{}, err
	}
	return keyOf(f, k.path(name)), nil
}

// List describes every key: the operator first (when the home has one),
// then the others by name. A file that does not decode fails the list,
// naming it.
func (k *Keyring) List() ([]Key, error) {
	var keys []Key
	priv, ok, err := k.operator()
	if err != nil {
		return nil, err
	}
	if ok {
		keys = append(keys, operatorKey(priv))
	}
	entries, err := os.ReadDir(k.cfg.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return keys, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	var names []string
	for _, e := range entries {
		name, isKey := strings.CutSuffix(e.Name(), fileExt)
		if !isKey || !e.Type().IsRegular() || ValidateName(name) != nil || name == OperatorName {
			continue // temporary files, strays
		}
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		f, err := k.load(name)
		if err != nil {
			return nil, err
		}
		keys = append(keys, keyOf(f, k.path(name)))
	}
	return keys, nil
}

// PrivateKey opens key name, with passphrase when it is sealed (see
// KeyFile.PrivateKey). A key file others may read is refused, as ssh does.
func (k *Keyring) PrivateKey(name string, passphrase []byte) (ed25519.PrivateKey, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if name == OperatorName {
		priv, ok, err := k.operator()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errNoOperator
		}
		return priv, nil
	}
	f, err := k.load(name)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(k.path(name)); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keyring: key file %s has mode %04o: others may read it; 'chmod 600 %s' and use it again",
			k.path(name), st.Mode().Perm(), k.path(name))
	}
	return f.PrivateKey(passphrase)
}

// Export returns key name's private key as PKCS#8 PEM (Armor), opened with
// passphrase when it is sealed.
func (k *Keyring) Export(name string, passphrase []byte) ([]byte, error) {
	priv, err := k.PrivateKey(name, passphrase)
	if err != nil {
		return nil, err
	}
	return Armor(priv)
}
