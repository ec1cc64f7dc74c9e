package keyring

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// PassphraseEnv is the environment variable a passphrase may come from.
const PassphraseEnv = "XNODE_PASSPHRASE"

// maxPassphraseFile bounds a passphrase file.
const maxPassphraseFile = 4 << 10

// Terminal asks a person for a passphrase without echoing it.
type Terminal interface {
	// ReadPassword writes prompt and reads one line without echo.
	ReadPassword(prompt string) ([]byte, error)
}

// Passphrase says where a passphrase comes from, first match wins: the
// file File, the value Env (of XNODE_PASSPHRASE), then a prompt on
// Terminal. Terminal is nil unless standard input is a terminal, so nothing
// ever waits for a person who is not there.
type Passphrase struct {
	// File is --passphrase-file: its first line, without the line end
	// (\n or \r\n), is the passphrase.
	File string
	// Env is the value of XNODE_PASSPHRASE; empty means unset.
	Env string
	// Terminal prompts when neither File nor Env is given; nil when
	// standard input is not a terminal.
	Terminal Terminal
}

// Given reports whether a passphrase comes from a file or the environment.
func (p Passphrase) Given() bool { return p.File != "" || p.Env != "" }

// Existing returns the passphrase of a sealed key named name. Without a
// file, an environment value or a terminal it fails with ErrNoPassphrase
// saying where a passphrase can come from.
func (p Passphrase) Existing(name string) ([]byte, error) {
	if p.Given() {
		return p.fromGiven()
	}
	if p.Terminal == nil {
		return nil, fmt.Errorf("%w: key %q is sealed under a passphrase and standard input is not a terminal: "+
			"give it with --passphrase-file FILE or the environment variable %s", ErrNoPassphrase, name, PassphraseEnv)
	}
	b, err := p.Terminal.ReadPassword(fmt.Sprintf("passphrase for key %q: ", name))
	if err != nil {
		return nil, fmt.Errorf("keyring: read passphrase: %w", err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: key %q is sealed under a passphrase and none was typed", ErrNoPassphrase, name)
	}
	return b, nil
}

// New returns the passphrase to seal a new key named name under. A file or
// environment value is used as is; on a terminal the person types it twice
// (an empty one keeps the key in clear); otherwise there is none, and the
// key is kept in clear: nil, nil.
func (p Passphrase) New(name string) ([]byte, error) {
	if p.Given() {
		return p.fromGiven()
	}
	if p.Terminal == nil {
		return nil, nil
	}
	a, err := p.Terminal.ReadPassword(fmt.Sprintf("passphrase for new key %q (empty for none): ", name))
	if err != nil {
		return nil, fmt.Errorf("keyring: read passphrase: %w", err)
	}
	if len(a) == 0 {
		return nil, nil
	}
	b, err := p.Terminal.ReadPassword("repeat the passphrase: ")
	if err != nil {
		return nil, fmt.Errorf("keyring: read passphrase: %w", err)
	}
	if !bytes.Equal(a, b) {
		return nil, errors.New("keyring: the two passphrases differ; nothing was written")
	}
	return a, nil
}

func (p Passphrase) fromGiven() ([]byte, error) {
	if p.File == "" {
		return []byte(p.Env), nil
	}
	f, err := os.Open(p.File)
	if err != nil {
		return nil, fmt.Errorf("keyring: passphrase file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPassphraseFile+1))
	if err != nil {
		return nil, fmt.Errorf("keyring: passphrase file %s: %w", p.File, err)
	}
	if len(b) > maxPassphraseFile {
		return nil, fmt.Errorf("keyring: passphrase file %s is over %d bytes; it holds one line", p.File, maxPassphraseFile)
	}
	if line, _, ok := bytes.Cut(b, []byte("\n")); ok {
		b = bytes.TrimSuffix(line, []byte("\r"))
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: passphrase file %s is empty", ErrNoPassphrase, p.File)
	}
	return b, nil
}
