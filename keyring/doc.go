// Package keyring keeps the ed25519 account keys of a node's users under the
// node's home, one file per key:
//
//	<home>/keys/keyring/          mode 0700
//	<home>/keys/keyring/NAME.key  mode 0600, JSON (see KeyFile)
//
// A key's name is 1 to 32 characters of a-z, 0-9, '_' and '-'. Its public
// key is stored in clear, so listing and showing keys never needs a
// passphrase; the private key (its 32-byte ed25519 seed) is stored either in
// clear or sealed under a passphrase: scrypt (N=2^15, r=8, p=1 by default)
// derives a 256-bit key from the passphrase and a random 16-byte salt, and
// XChaCha20-Poly1305 seals the seed with the public key and the file format
// as associated data, so a wrong passphrase or an edited file is refused
// rather than read as some other key.
//
// The node's own operator key (<home>/keys/operator.key, written by the
// overlay) is the account "operator": List and Show include it, PrivateKey
// and Export read it, and Add and Import refuse the name. The
// keyring reads that file through Config.Operator, so it does not know the
// overlay's file format.
//
// Import reads a private key in any of the forms Parse documents (PKCS#8
// PEM as openssl writes it, the operator key file, or 32- or 64-byte hex or
// base64); Export writes the PKCS#8 PEM form.
//
// Passphrases come from a Passphrase source (passphrase.go), which never
// prompts unless standard input is a terminal: otherwise the passphrase is
// read from a file or the environment, and a key that needs one without a
// source is a clear error.
//
// The core (key files, sealing, parsing, names) is pure; Keyring is the thin
// adapter over a directory. A Keyring holds no open files and starts nothing;
// its methods may be called from several goroutines, and two processes
// adding the same name race safely: one wins, the other gets ErrExists.
//
// keyring imports only the root error kinds of the project.
package keyring
