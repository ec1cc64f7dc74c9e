package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/internal/atomicfile"
	"github.com/xnode/xnode/keyring"
	"github.com/xnode/xnode/overlay"
)

// keyring opens the keyring of --home; the home's operator key is the
// account "operator".
func (g *globals) keyring() (*keyring.Keyring, error) {
	op := overlay.Home(g.home).OperatorPath()
	return keyring.New(keyring.Config{
		Dir:      keyring.Dir(g.home),
		Operator: func() (ed25519.PrivateKey, error) { return overlay.LoadOperatorKey(op) },
	})
}

// passphrase is where a passphrase comes from: --passphrase-file, then
// XNODE_PASSPHRASE, then a prompt, but only when standard input is a
// terminal.
func (g *globals) passphrase(file string) keyring.Passphrase {
	p := keyring.Passphrase{File: file, Env: os.Getenv(keyring.PassphraseEnv)}
	if f, ok := g.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.Terminal = ttyPrompt{in: f, out: g.err}
	}
	return p
}

// ttyPrompt reads a passphrase from a terminal without echo.
type ttyPrompt struct {
	in  *os.File
	out io.Writer
}

func (t ttyPrompt) ReadPassword(prompt string) ([]byte, error) {
	fmt.Fprint(t.out, prompt)
	defer fmt.Fprintln(t.out)
	return term.ReadPassword(int(t.in.Fd()))
}

// explainKey adds what to do to a keyring error; a bad name is bad usage.
func explainKey(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, keyring.ErrBadName):
		return usageError{err}
	case errors.Is(err, keyring.ErrNoPassphrase):
		return fmt.Errorf("%w\n(--passphrase-file FILE reads it from the first line of FILE)", err)
	case errors.Is(err, keyring.ErrWrongPassphrase):
		return fmt.Errorf("%w\ncheck --passphrase-file or %s", err, keyring.PassphraseEnv)
	}
	return err
}

// keyJSON is `keys show --json` and one entry of `keys list --json`.
type keyJSON struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	PublicKey string `json:"public_key"`
	Encrypted bool   `json:"encrypted"`
	Operator  bool   `json:"operator,omitempty"`
}

func keyView(k keyring.Key) keyJSON {
	return keyJSON{
		Name: k.Name, Address: abci.AddressOf(k.PublicKey).String(),
		PublicKey: fmt.Sprintf("%x", []byte(k.PublicKey)), Encrypted: k.Encrypted, Operator: k.Operator,
	}
}

func (g *globals) printKey(k keyring.Key) error {
	v := keyView(k)
	if g.json {
		return printJSON(g.out, v)
	}
	tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "name\t%s\n", v.Name)
	fmt.Fprintf(tw, "address\t%s\n", v.Address)
	fmt.Fprintf(tw, "public key\t%s\n", v.PublicKey)
	fmt.Fprintf(tw, "protection\t%s\n", protection(k))
	return tw.Flush()
}

func protection(k keyring.Key) string {
	switch {
	case k.Operator:
		return "the node's operator key (keys/operator.key)"
	case k.Encrypted:
		return "passphrase"
	}
	return "none (file mode 0600 only)"
}

func newKeysCmd(g *globals) *cobra.Command {
	keys := &cobra.Command{
		Use:   "keys",
		Short: "Account keys in the keyring under --home (keys/keyring/)",
		Long: `Account keys (ed25519) kept under --home in keys/keyring/, one file per key,
mode 0600, optionally sealed under a passphrase. The node's own operator key
(keys/operator.key) is the account "operator" (read-only here).

A passphrase comes from --passphrase-file FILE (its first line), else the
environment variable XNODE_PASSPHRASE, else a prompt when standard input is
a terminal. Without a terminal nothing is ever prompted for: a new key is
kept without a passphrase, and a sealed key without one is an error.`,
	}
	keys.AddCommand(newKeysAddCmd(g), newKeysListCmd(g), newKeysShowCmd(g), newKeysImportCmd(g), newKeysExportCmd(g))
	return keys
}

func newKeysAddCmd(g *globals) *cobra.Command {
	var passFile string
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Make a new key NAME (1-32 characters of a-z, 0-9, _ and -) and print its address",
		Args:  exactArgs(1, "one NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return addKey(g, args[0], passFile, func(kr *keyring.Keyring, pass []byte) (keyring.Key, error) {
				return kr.Add(args[0], pass)
			})
		},
	}
	cmd.Flags().StringVar(&passFile, "passphrase-file", "", "seal the key under the passphrase on the first line of FILE")
	return cmd
}

// addKey checks name, gets the new key's passphrase, and stores the key.
func addKey(g *globals, name, passFile string, store func(*keyring.Keyring, []byte) (keyring.Key, error)) error {
	if err := keyring.ValidateName(name); err != nil {
		return usageError{err}
	}
	if name == keyring.OperatorName {
		return usageError{fmt.Errorf("%w\nthe operator account is the node's own key; give this key another name", keyring.ErrReadOnly)}
	}
	kr, err := g.keyring()
	if err != nil {
		return err
	}
	src := g.passphrase(passFile)
	pass, err := src.New(name)
	if err != nil {
		return explainKey(err)
	}
	k, err := store(kr, pass)
	if errors.Is(err, keyring.ErrExists) {
		return fmt.Errorf("%w\n'xnode keys show %s' shows it; pick another name for a new key", err, name)
	}
	if err != nil {
		return explainKey(err)
	}
	if len(pass) == 0 && src.Terminal == nil {
		fmt.Fprintf(g.err, "key %s is kept without a passphrase (protected by file mode 0600 only); give --passphrase-file or %s to seal a key\n",
			name, keyring.PassphraseEnv)
	}
	return g.printKey(k)
}

func newKeysListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the keys: the node's operator key, then the keyring's",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			kr, err := g.keyring()
			if err != nil {
				return err
			}
			keys, err := kr.List()
			if err != nil {
				return explainKey(err)
			}
			out := make([]keyJSON, 0, len(keys))
			for _, k := range keys {
				out = append(out, keyView(k))
			}
			if g.json {
				return printJSON(g.out, out)
			}
			if len(out) == 0 {
				fmt.Fprintf(g.err, "no keys under %s; 'xnode keys add NAME' makes one\n", g.home)
				return nil
			}
			tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "NAME\tADDRESS\tPROTECTION\n")
			for i, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Name, out[i].Address, protection(k))
			}
			return tw.Flush()
		},
	}
}

func newKeysShowCmd(g *globals) *cobra.Command {
	var addressOnly bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show key NAME: its address and public key (never the private key)",
		Args:  exactArgs(1, "one NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			kr, err := g.keyring()
			if err != nil {
				return err
			}
			k, err := kr.Show(args[0])
			if err != nil {
				return explainKey(err)
			}
			if addressOnly && !g.json {
				fmt.Fprintln(g.out, abci.AddressOf(k.PublicKey))
				return nil
			}
			return g.printKey(k)
		},
	}
	cmd.Flags().BoolVar(&addressOnly, "address", false, "print only the address")
	return cmd
}

func newKeysImportCmd(g *globals) *cobra.Command {
	var passFile string
	cmd := &cobra.Command{
		Use:   "import NAME FILE|-",
		Short: "Store the private key in FILE as NAME",
		Long: `Store the ed25519 private key in FILE ('-' reads standard input) as key NAME.
FILE holds one of: PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----", as 'xnode keys
export' and 'openssl genpkey -algorithm ed25519' write it); a node's
keys/operator.key; CometBFT's priv_validator_key.json; or the 32-byte seed or
64-byte private key in hex or base64. The key is sealed under a passphrase
when one is given (see 'xnode keys --help').`,
		Args: exactArgs(2, "NAME and a FILE (or - for standard input)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := keyring.ValidateName(name); err != nil {
				return usageError{err}
			}
			var data []byte
			var err error
			if args[1] == "-" {
				data, err = io.ReadAll(io.LimitReader(g.in, keyring.MaxImportBytes+1))
			} else {
				data, err = readLimited(args[1], keyring.MaxImportBytes+1)
			}
			if err != nil {
				return fmt.Errorf("%w\ncheck the path of the key file", err)
			}
			if _, err := keyring.Parse(data); err != nil {
				return fmt.Errorf("%s: %w", args[1], err)
			}
			return addKey(g, name, passFile, func(kr *keyring.Keyring, pass []byte) (keyring.Key, error) {
				return kr.Import(name, data, pass)
			})
		},
	}
	cmd.Flags().StringVar(&passFile, "passphrase-file", "", "seal the key under the passphrase on the first line of FILE")
	return cmd
}

func readLimited(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}

func newKeysExportCmd(g *globals) *cobra.Command {
	var passFile, out string
	cmd := &cobra.Command{
		Use:   "export NAME -o FILE",
		Short: "Write key NAME's private key to FILE (mode 0600) as PKCS#8 PEM",
		Long: `Write key NAME's private key to FILE, created with mode 0600, as PKCS#8 PEM
("-----BEGIN PRIVATE KEY-----"), which 'xnode keys import' and openssl read.
A sealed key needs its passphrase. FILE must not exist; '-o -' writes to
standard output.`,
		Args: exactArgs(1, "one NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := keyring.ValidateName(name); err != nil {
				return usageError{err}
			}
			if out == "" {
				return usagef("xnode keys export needs -o FILE (the file is created with mode 0600; -o - writes to standard output)")
			}
			if out != "-" {
				if _, err := os.Lstat(out); err == nil {
					return fmt.Errorf("%s exists; export writes a new file only (remove it, or name another)", out)
				}
			}
			kr, err := g.keyring()
			if err != nil {
				return err
			}
			k, err := kr.Show(name)
			if err != nil {
				return explainKey(err)
			}
			var pass []byte
			if k.Encrypted {
				if pass, err = g.passphrase(passFile).Existing(name); err != nil {
					return explainKey(err)
				}
			}
			pemKey, err := kr.Export(name, pass)
			if err != nil {
				return explainKey(err)
			}
			if out == "-" {
				_, err := g.out.Write(pemKey)
				return err
			}
			if err := atomicfile.WriteBytes(out, pemKey, 0o600); err != nil {
				return fmt.Errorf("%w\ncheck that the directory of %s exists and is writable", err, out)
			}
			fmt.Fprintf(g.err, "wrote the private key of %s to %s (mode 0600)\n", name, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&passFile, "passphrase-file", "", "the key's passphrase is the first line of FILE")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to FILE (created with mode 0600; - is standard output)")
	return cmd
}

// signer is a key to sign with, opened from the keyring.
type signer struct {
	name string
	priv ed25519.PrivateKey
}

func (s signer) address() abci.Address { return abci.AddressOf(s.priv.Public().(ed25519.PublicKey)) }

// openSigner opens key name for signing, asking for its passphrase only
// when it is sealed.
func (g *globals) openSigner(name, passFile string) (signer, error) {
	if err := keyring.ValidateName(name); err != nil {
		return signer{}, usageError{fmt.Errorf("--from: %w", err)}
	}
	kr, err := g.keyring()
	if err != nil {
		return signer{}, err
	}
	k, err := kr.Show(name)
	if errors.Is(err, xnode.ErrNotFound) {
		return signer{}, fmt.Errorf("--from %s: %w", name, err)
	}
	if err != nil {
		return signer{}, explainKey(err)
	}
	var pass []byte
	if k.Encrypted {
		if pass, err = g.passphrase(passFile).Existing(name); err != nil {
			return signer{}, explainKey(err)
		}
	}
	priv, err := kr.PrivateKey(name, pass)
	if err != nil {
		return signer{}, explainKey(err)
	}
	return signer{name: name, priv: priv}, nil
}
