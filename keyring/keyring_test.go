package keyring

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xnode/xnode"
)

// fastScrypt keeps sealing cheap in tests; the format records the cost, so
// opening uses whatever a file was written with.
var fastScrypt = ScryptParams{N: 1 << 10, R: 8, P: 1}

func newRing(t *testing.T, op ed25519.PrivateKey) *Keyring {
	t.Helper()
	cfg := Config{Dir: Dir(t.TempDir()), Scrypt: fastScrypt}
	if op != nil {
		cfg.Operator = func() (ed25519.PrivateKey, error) { return op, nil }
	}
	k, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func genKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func TestNewCreatesNothing(t *testing.T) {
	home := t.TempDir()
	if _, err := New(Config{Dir: Dir(home)}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Fatalf("New wrote %d entries", len(entries))
	}
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "Dir") {
		t.Fatalf("New without Dir: %v", err)
	}
	if _, err := New(Config{Dir: "x", Scrypt: ScryptParams{N: 3, R: 8, P: 1}}); err == nil || !strings.Contains(err.Error(), "power of two") {
		t.Fatalf("New with N 3: %v", err)
	}
}

func TestFilesAreOwnerOnly(t *testing.T) {
	k := newRing(t, nil)
	for _, c := range []struct {
		name string
		pass []byte
	}{{"alice", nil}, {"bob", []byte("s3cret")}} {
		key, err := k.Add(c.name, c.pass)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(key.Path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", c.name, st.Mode().Perm())
		}
		if key.Path != filepath.Join(k.cfg.Dir, c.name+".key") {
			t.Errorf("%s stored at %s", c.name, key.Path)
		}
	}
	st, err := os.Stat(k.cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Fatalf("keyring dir mode %04o, want 0700", st.Mode().Perm())
	}
	// No temporary file is left beside the keys.
	entries, _ := os.ReadDir(k.cfg.Dir)
	if len(entries) != 2 {
		t.Fatalf("keyring holds %d entries, want 2", len(entries))
	}
}

func TestLooseDirectoryIsTightened(t *testing.T) {
	k := newRing(t, nil)
	if err := os.MkdirAll(k.cfg.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(k.cfg.Dir, 0o755)
	if _, err := k.Add("alice", nil); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(k.cfg.Dir); st.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %04o after add, want 0700", st.Mode().Perm())
	}
}

func TestPassphraseRoundTrip(t *testing.T) {
	k := newRing(t, nil)
	key, err := k.Add("alice", []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if !key.Encrypted {
		t.Fatal("a key added with a passphrase is not marked encrypted")
	}
	raw, _ := os.ReadFile(key.Path)
	priv, err := k.PrivateKey("alice", []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if !priv.Public().(ed25519.PublicKey).Equal(key.PublicKey) {
		t.Fatal("opened key does not match the shown public key")
	}
	if bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(priv.Seed()))) ||
		bytes.Contains(raw, []byte(hex.EncodeToString(priv.Seed()))) {
		t.Fatal("the sealed file holds the seed in clear")
	}
	// Showing and listing need no passphrase.
	shown, err := k.Show("alice")
	if err != nil || !shown.PublicKey.Equal(key.PublicKey) || !shown.Encrypted {
		t.Fatalf("Show: %+v, %v", shown, err)
	}
}

func TestWrongOrMissingPassphrase(t *testing.T) {
	k := newRing(t, nil)
	if _, err := k.Add("alice", []byte("correct horse")); err != nil {
		t.Fatal(err)
	}
	if _, err := k.PrivateKey("alice", []byte("battery staple")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := k.PrivateKey("alice", nil); !errors.Is(err, ErrNoPassphrase) {
		t.Fatalf("no passphrase: %v", err)
	}
	if _, err := k.Export("alice", []byte("nope")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("export with a wrong passphrase: %v", err)
	}
	// A clear key ignores a passphrase.
	clear, err := k.Add("bob", nil)
	if err != nil {
		t.Fatal(err)
	}
	if clear.Encrypted {
		t.Fatal("a key added without a passphrase is marked encrypted")
	}
	if _, err := k.PrivateKey("bob", []byte("anything")); err != nil {
		t.Fatal(err)
	}
}

func TestTamperedSealedFileIsRefused(t *testing.T) {
	k := newRing(t, nil)
	key, err := k.Add("alice", []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(key.Path)
	var f KeyFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	// The sealed seed of another key moved into this file does not open:
	// the public key is bound as associated data.
	other, err := NewKeyFile("alice", genKey(t), []byte("pw"), fastScrypt, strings.NewReader(strings.Repeat("r", 64)), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.Sealed = other.Sealed
	if err := os.WriteFile(key.Path, f.Encode(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := k.PrivateKey("alice", []byte("pw")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("swapped ciphertext: %v", err)
	}
}

func TestDecodeKeyFileRejects(t *testing.T) {
	good, err := NewKeyFile("alice", genKey(t), []byte("pw"), fastScrypt, strings.NewReader(strings.Repeat("r", 64)), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	clear, err := NewKeyFile("bob", genKey(t), nil, fastScrypt, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	mut := func(f KeyFile, m func(*KeyFile)) []byte {
		if f.Sealed != nil {
			s := *f.Sealed
			f.Sealed = &s
		}
		m(&f)
		return f.Encode()
	}
	for name, b := range map[string][]byte{
		"not json":        []byte("hello"),
		"unknown field":   []byte(`{"version":1,"name":"a","type":"ed25519","public_key":"","x":1}`),
		"version 2":       mut(clear, func(f *KeyFile) { f.Version = 2 }),
		"rsa":             mut(clear, func(f *KeyFile) { f.Type = "rsa" }),
		"bad name":        mut(clear, func(f *KeyFile) { f.Name = "Bob" }),
		"short pub":       mut(clear, func(f *KeyFile) { f.PublicKey = "abcd" }),
		"seed mismatch":   mut(clear, func(f *KeyFile) { f.PublicKey = good.PublicKey }),
		"neither":         mut(clear, func(f *KeyFile) { f.Seed = "" }),
		"both":            mut(good, func(f *KeyFile) { f.Seed = clear.Seed }),
		"huge scrypt":     mut(good, func(f *KeyFile) { f.Sealed.N = 1 << 30 }),
		"other kdf":       mut(good, func(f *KeyFile) { f.Sealed.KDF = "pbkdf2" }),
		"short nonce":     mut(good, func(f *KeyFile) { f.Sealed.Nonce = "AAAA" }),
		"bad ciphertext":  mut(good, func(f *KeyFile) { f.Sealed.Ciphertext = "!!" }),
		"over size limit": bytes.Repeat([]byte(" "), maxKeyFile+1),
	} {
		if _, err := DecodeKeyFile(b); !errors.Is(err, ErrBadKeyFile) {
			t.Errorf("%s: %v, want ErrBadKeyFile", name, err)
		}
	}
	if _, err := DecodeKeyFile(good.Encode()); err != nil {
		t.Fatalf("good file: %v", err)
	}
}

// TestGoldenSealedFile pins the sealed format: a file written by this
// version opens with its passphrase in every later one.
func TestGoldenSealedFile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "sealed.key"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := DecodeKeyFile(b)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := f.PrivateKey([]byte("correct horse battery staple"))
	if err != nil {
		t.Fatal(err)
	}
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	if !priv.Equal(ed25519.NewKeyFromSeed(seed)) {
		t.Fatal("golden file opened to another key")
	}
	if _, err := f.PrivateKey([]byte("correct horse battery stapler")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("golden file, wrong passphrase: %v", err)
	}
}

func TestBadNames(t *testing.T) {
	k := newRing(t, nil)
	for _, name := range []string{"", "Alice", "a.b", "../x", "a/b", "a b", "ünï", strings.Repeat("a", 33), "-\x00"} {
		if err := ValidateName(name); !errors.Is(err, ErrBadName) || !errors.Is(err, xnode.ErrInvalidArgument) {
			t.Errorf("ValidateName(%q) = %v", name, err)
		}
		if _, err := k.Add(name, nil); !errors.Is(err, ErrBadName) {
			t.Errorf("Add(%q) = %v", name, err)
		}
		if _, err := k.Show(name); !errors.Is(err, ErrBadName) {
			t.Errorf("Show(%q) = %v", name, err)
		}
	}
	for _, name := range []string{"a", "alice_2", "my-key", strings.Repeat("z", 32), "0"} {
		if err := ValidateName(name); err != nil {
			t.Errorf("ValidateName(%q) = %v", name, err)
		}
	}
	if entries, _ := os.ReadDir(k.cfg.Dir); len(entries) != 0 {
		t.Fatalf("bad names wrote %d files", len(entries))
	}
}

func TestAddIsExclusive(t *testing.T) {
	k := newRing(t, nil)
	first, err := k.Add("alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Add("alice", nil); !errors.Is(err, ErrExists) || !errors.Is(err, xnode.ErrConflict) {
		t.Fatalf("second add: %v", err)
	}
	if shown, _ := k.Show("alice"); !shown.PublicKey.Equal(first.PublicKey) {
		t.Fatal("a refused add replaced the key")
	}
	// Writers racing for one new name: exactly one wins.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			// Past the existence check, so the link decides.
			_, err := k.store("bob", genKey(t), nil)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrExists):
			t.Errorf("racing add: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d racing adds won, want 1", won)
	}
}

func TestOperatorAlias(t *testing.T) {
	op := genKey(t)
	k := newRing(t, op)
	if _, err := k.Add("zed", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Add("amy", nil); err != nil {
		t.Fatal(err)
	}
	keys, err := k.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, key := range keys {
		names = append(names, key.Name)
	}
	if strings.Join(names, ",") != "operator,amy,zed" {
		t.Fatalf("List: %v, want operator first then by name", names)
	}
	if !keys[0].Operator || !keys[0].PublicKey.Equal(op.Public().(ed25519.PublicKey)) {
		t.Fatalf("operator entry: %+v", keys[0])
	}
	shown, err := k.Show(OperatorName)
	if err != nil || !shown.Operator {
		t.Fatalf("Show operator: %+v, %v", shown, err)
	}
	priv, err := k.PrivateKey(OperatorName, nil)
	if err != nil || !priv.Equal(op) {
		t.Fatalf("PrivateKey operator: %v", err)
	}
	if _, err := k.Add(OperatorName, nil); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Add operator: %v", err)
	}
	pemKey, _ := Armor(genKey(t))
	if _, err := k.Import(OperatorName, pemKey, nil); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Import operator: %v", err)
	}
	if _, err := os.Stat(filepath.Join(k.cfg.Dir, "operator.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a refused operator write left a file")
	}

	// A home without a node has no operator account.
	none, err := New(Config{Dir: Dir(t.TempDir()), Operator: func() (ed25519.PrivateKey, error) {
		return nil, fmt.Errorf("read: %w", fs.ErrNotExist)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if keys, err := none.List(); err != nil || len(keys) != 0 {
		t.Fatalf("List without operator: %v, %v", keys, err)
	}
	if _, err := none.Show(OperatorName); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "xnode init") {
		t.Fatalf("Show operator without one: %v", err)
	}
	// A broken operator key file is an error, not a silent omission.
	broken, _ := New(Config{Dir: Dir(t.TempDir()), Operator: func() (ed25519.PrivateKey, error) {
		return nil, errors.New("not an ed25519 key file")
	}})
	if _, err := broken.List(); err == nil {
		t.Fatal("List with a broken operator key succeeded")
	}
}

func TestUnknownKey(t *testing.T) {
	k := newRing(t, nil)
	for _, f := range []func() error{
		func() error { _, err := k.Show("ghost"); return err },
		func() error { _, err := k.PrivateKey("ghost", nil); return err },
		func() error { _, err := k.Export("ghost", nil); return err },
	} {
		if err := f(); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "xnode keys add ghost") {
			t.Errorf("unknown key: %v", err)
		}
	}
}

func TestReadableKeyFileIsRefused(t *testing.T) {
	k := newRing(t, nil)
	key, err := k.Add("alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(key.Path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := k.PrivateKey("alice", nil); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("PrivateKey of a 0644 file: %v", err)
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	k := newRing(t, nil)
	key, err := k.Add("alice", []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := k.Export("alice", []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, []byte("-----BEGIN PRIVATE KEY-----")) {
		t.Fatalf("export is not PKCS#8 PEM: %.40q", out)
	}
	again, err := k.Import("alice2", out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !again.PublicKey.Equal(key.PublicKey) {
		t.Fatal("import of the export is another key")
	}
	if _, err := k.Import("alice2", out, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("import over an existing name: %v", err)
	}
}

func TestParseForms(t *testing.T) {
	priv := genKey(t)
	seed := priv.Seed()
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	opFile, _ := json.Marshal(map[string]any{"type": "ed25519", "priv_key": []byte(priv)})
	cmtFile, _ := json.Marshal(map[string]any{"address": "AB", "priv_key": map[string]string{
		"type": "tendermint/PrivKeyEd25519", "value": base64.StdEncoding.EncodeToString(priv)}})
	for name, in := range map[string]string{
		"pkcs8 pem":         string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"operator key file": string(opFile),
		"cometbft key file": string(cmtFile),
		"hex seed":          hex.EncodeToString(seed),
		"0x hex key":        "0x" + hex.EncodeToString(priv) + "\n",
		"HEX seed":          strings.ToUpper(hex.EncodeToString(seed)),
		"base64 seed":       base64.StdEncoding.EncodeToString(seed),
		"raw base64 key":    base64.RawStdEncoding.EncodeToString(priv),
		"url base64 seed":   base64.URLEncoding.EncodeToString(seed),
	} {
		got, err := Parse([]byte("  " + in + "\n"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !got.Equal(priv) {
			t.Errorf("%s: parsed another key", name)
		}
	}
}

func TestImportGarbage(t *testing.T) {
	k := newRing(t, nil)
	priv := genKey(t)
	other := genKey(t)
	mismatched := append(append([]byte{}, priv.Seed()...), other.Public().(ed25519.PublicKey)...)
	rsaLike := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{1, 2, 3}})
	badDER := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}})
	secret := "this is my secret garbage"
	for name, in := range map[string][]byte{
		"empty":           nil,
		"white space":     []byte(" \n\t"),
		"text":            []byte(secret),
		"short hex":       []byte("abcdef"),
		"odd hex":         []byte("abc"),
		"31-byte base64":  []byte(base64.StdEncoding.EncodeToString(make([]byte, 31))),
		"mismatched 64":   []byte(hex.EncodeToString(mismatched)),
		"rsa pem":         rsaLike,
		"bad pkcs8":       badDER,
		"two pem blocks":  append(append([]byte{}, badDER...), rsaLike...),
		"truncated pem":   []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQ"),
		"json no key":     []byte(`{"type":"ed25519"}`),
		"json other type": []byte(`{"type":"secp256k1","priv_key":"AAAA"}`),
		"json bad base64": []byte(`{"type":"ed25519","priv_key":"!!"}`),
		"cometbft secp":   []byte(`{"priv_key":{"type":"tendermint/PrivKeySecp256k1","value":"AAAA"}}`),
		"over size":       bytes.Repeat([]byte("a"), MaxImportBytes+1),
		"binary":          {0xff, 0x00, 0x13, 0x37},
	} {
		_, err := k.Import("x", in, nil)
		if !errors.Is(err, ErrBadImport) || !errors.Is(err, xnode.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrBadImport", name, err)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error echoes the input: %v", name, err)
		}
	}
	if entries, _ := os.ReadDir(k.cfg.Dir); len(entries) != 0 {
		t.Fatalf("garbage imports wrote %d files", len(entries))
	}
}

// fakeTerminal answers prompts from a script and records them.
type fakeTerminal struct {
	answers []string
	prompts []string
}

func (f *fakeTerminal) ReadPassword(prompt string) ([]byte, error) {
	f.prompts = append(f.prompts, prompt)
	if len(f.answers) == 0 {
		return nil, errors.New("no more answers")
	}
	a := f.answers[0]
	f.answers = f.answers[1:]
	return []byte(a), nil
}

func TestPassphraseSources(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, c := range map[string]struct {
		src  Passphrase
		want string
	}{
		"file with newline":  {Passphrase{File: write("a", "pw one\n")}, "pw one"},
		"file with crlf":     {Passphrase{File: write("b", "pw two\r\nignored\n")}, "pw two"},
		"file without end":   {Passphrase{File: write("c", " spaced ")}, " spaced "},
		"env":                {Passphrase{Env: "from env"}, "from env"},
		"file before env":    {Passphrase{File: write("d", "file\n"), Env: "env"}, "file"},
		"env before prompt":  {Passphrase{Env: "env", Terminal: &fakeTerminal{}}, "env"},
		"file before prompt": {Passphrase{File: write("e", "file"), Terminal: &fakeTerminal{}}, "file"},
	} {
		for _, get := range []func() ([]byte, error){
			func() ([]byte, error) { return c.src.Existing("k") },
			func() ([]byte, error) { return c.src.New("k") },
		} {
			got, err := get()
			if err != nil || string(got) != c.want {
				t.Errorf("%s: %q, %v, want %q", name, got, err, c.want)
			}
		}
		if ft, ok := c.src.Terminal.(*fakeTerminal); ok && len(ft.prompts) != 0 {
			t.Errorf("%s: prompted although a passphrase was given", name)
		}
	}
	if _, err := (Passphrase{File: write("empty", "\n")}).Existing("k"); !errors.Is(err, ErrNoPassphrase) {
		t.Errorf("empty file: %v", err)
	}
	if _, err := (Passphrase{File: filepath.Join(dir, "missing")}).Existing("k"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := (Passphrase{File: write("big", strings.Repeat("x", maxPassphraseFile+1))}).Existing("k"); err == nil {
		t.Error("oversized passphrase file accepted")
	}
}

// TestNoPromptWithoutTerminal: with standard input not a terminal (no
// Terminal) and no file or environment value, opening a sealed key fails at
// once, saying where a passphrase can come from; a new key is kept in clear.
func TestNoPromptWithoutTerminal(t *testing.T) {
	_, err := Passphrase{}.Existing("alice")
	if !errors.Is(err, ErrNoPassphrase) {
		t.Fatalf("Existing without a source: %v", err)
	}
	for _, want := range []string{"not a terminal", "--passphrase-file", PassphraseEnv, `"alice"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if p, err := (Passphrase{}).New("alice"); err != nil || p != nil {
		t.Fatalf("New without a source: %q, %v, want none", p, err)
	}
}

func TestTerminalPrompts(t *testing.T) {
	term := &fakeTerminal{answers: []string{"pw", "pw"}}
	p, err := Passphrase{Terminal: term}.New("alice")
	if err != nil || string(p) != "pw" || len(term.prompts) != 2 {
		t.Fatalf("New on a terminal: %q, %v, prompts %q", p, err, term.prompts)
	}
	term = &fakeTerminal{answers: []string{"pw", "wp"}}
	if _, err := (Passphrase{Terminal: term}).New("alice"); err == nil || !strings.Contains(err.Error(), "differ") {
		t.Fatalf("mismatched repeat: %v", err)
	}
	term = &fakeTerminal{answers: []string{""}}
	if p, err := (Passphrase{Terminal: term}).New("alice"); err != nil || p != nil || len(term.prompts) != 1 {
		t.Fatalf("empty new passphrase: %q, %v, prompts %q", p, err, term.prompts)
	}
	term = &fakeTerminal{answers: []string{"open sesame"}}
	if p, err := (Passphrase{Terminal: term}).Existing("alice"); err != nil || string(p) != "open sesame" || !strings.Contains(term.prompts[0], "alice") {
		t.Fatalf("Existing on a terminal: %q, %v, %q", p, err, term.prompts)
	}
	term = &fakeTerminal{answers: []string{""}}
	if _, err := (Passphrase{Terminal: term}).Existing("alice"); !errors.Is(err, ErrNoPassphrase) {
		t.Fatalf("empty typed passphrase: %v", err)
	}
}

func mustKeyFile(t *testing.T) []byte {
	f, err := NewKeyFile("k", genKey(t), nil, fastScrypt, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return f.Encode()
}
