package light

import (
	"bytes"
	"fmt"

	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	ics23 "github.com/cosmos/ics23/go"
)

// ProofOpType is the type of the one proof operation the xnode application
// attaches to a proven query: the Data is a protobuf-encoded ICS23
// CommitmentProof over the IAVL state tree (abci.ProofOpICS23).
const ProofOpType = "ics23:iavl"

// CheckProof checks that ops prove the state key holds value (or, with a
// nil value, that key is absent) in the state whose root is appHash. It is
// pure: no I/O, no clock. The checks run in an order that names the first
// lie found: the proof's shape (ErrNoProof, ErrBadProof), its key
// (ErrWrongKey), the value it commits to (ErrTamperedValue), and the root
// it leads to (ErrAppHashMismatch).
func CheckProof(ops *cmtcrypto.ProofOps, key, value, appHash []byte) (err error) {
	defer func() {
		// The proof comes from a node the caller does not trust: whatever
		// in it trips the ICS23 library is a malformed proof, not a crash.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: the proof could not be checked: %v", ErrBadProof, r)
		}
	}()
	op, err := singleOp(ops)
	if err != nil {
		return err
	}
	if !bytes.Equal(op.Key, key) {
		return fmt.Errorf("%w: the proof operation is for key %q, asked for %q", ErrWrongKey, printable(op.Key), printable(key))
	}
	proof, err := decodeProof(op.Data)
	if err != nil {
		return err
	}
	if value != nil {
		return checkMembership(proof, key, value, appHash)
	}
	return checkAbsence(proof, key, appHash)
}

// decodeProof decodes an ICS23 proof: an existence or non-existence
// proof, or either one alone in a batch, plain or compressed (a compressed
// absence proof shares the neighbours' common path and is about half the
// size of a plain one).
func decodeProof(data []byte) (*ics23.CommitmentProof, error) {
	var proof ics23.CommitmentProof
	if err := proof.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("%w: decode the ICS23 proof: %v", ErrBadProof, err)
	}
	if c := proof.GetCompressed(); c != nil {
		// ics23.Decompress indexes its lookup table with the proof's own
		// numbers: check them first, or a liar could panic the client.
		if err := checkCompressed(c); err != nil {
			return nil, err
		}
	}
	p := ics23.Decompress(&proof)
	b := p.GetBatch()
	if b == nil {
		return p, nil
	}
	if len(b.Entries) != 1 || b.Entries[0] == nil {
		return nil, fmt.Errorf("%w: a batch proof of %d entries, want one", ErrBadProof, len(b.Entries))
	}
	switch e := b.Entries[0]; {
	case e.GetExist() != nil:
		return &ics23.CommitmentProof{Proof: &ics23.CommitmentProof_Exist{Exist: e.GetExist()}}, nil
	case e.GetNonexist() != nil:
		return &ics23.CommitmentProof{Proof: &ics23.CommitmentProof_Nonexist{Nonexist: e.GetNonexist()}}, nil
	}
	return nil, fmt.Errorf("%w: an empty batch entry", ErrBadProof)
}

func checkCompressed(c *ics23.CompressedBatchProof) error {
	n := int32(len(c.LookupInners))
	path := func(e *ics23.CompressedExistenceProof) error {
		if e == nil {
			return nil
		}
		for _, step := range e.Path {
			if step < 0 || step >= n {
				return fmt.Errorf("%w: compressed proof step %d outside its table of %d", ErrBadProof, step, n)
			}
		}
		return nil
	}
	for _, e := range c.Entries {
		if e == nil {
			return fmt.Errorf("%w: a nil compressed batch entry", ErrBadProof)
		}
		if err := path(e.GetExist()); err != nil {
			return err
		}
		if ne := e.GetNonexist(); ne != nil {
			if err := path(ne.Left); err != nil {
				return err
			}
			if err := path(ne.Right); err != nil {
				return err
			}
		}
	}
	return nil
}

func singleOp(ops *cmtcrypto.ProofOps) (cmtcrypto.ProofOp, error) {
	if ops == nil || len(ops.Ops) == 0 {
		return cmtcrypto.ProofOp{}, fmt.Errorf("%w: the answer carries no proof operations", ErrNoProof)
	}
	if len(ops.Ops) != 1 {
		return cmtcrypto.ProofOp{}, fmt.Errorf("%w: want exactly one proof operation, got %d", ErrNoProof, len(ops.Ops))
	}
	op := ops.Ops[0]
	if op.Type != ProofOpType {
		return cmtcrypto.ProofOp{}, fmt.Errorf("%w: proof operation of type %q, want %q", ErrNoProof, printable([]byte(op.Type)), ProofOpType)
	}
	return op, nil
}

func checkMembership(proof *ics23.CommitmentProof, key, value, appHash []byte) error {
	ep := proof.GetExist()
	if ep == nil {
		if proof.GetNonexist() != nil {
			return fmt.Errorf("%w: the answer has a value for %q but the proof shows the key absent", ErrTamperedValue, printable(key))
		}
		return fmt.Errorf("%w: want an existence proof for %q", ErrBadProof, printable(key))
	}
	if !bytes.Equal(ep.Key, key) {
		return fmt.Errorf("%w: the existence proof is for key %q, asked for %q", ErrWrongKey, printable(ep.Key), printable(key))
	}
	if !bytes.Equal(ep.Value, value) {
		if len(value) == 0 {
			return fmt.Errorf("%w: the answer has no value for %q but the proof shows it present (%d bytes)", ErrTamperedValue, printable(key), len(ep.Value))
		}
		return fmt.Errorf("%w: the answer's value (%d bytes) differs from the value the proof commits to (%d bytes) from byte %d", ErrTamperedValue, len(value), len(ep.Value), firstDiff(value, ep.Value))
	}
	if err := ep.CheckAgainstSpec(ics23.IavlSpec); err != nil {
		return fmt.Errorf("%w: existence proof: %v", ErrBadProof, err)
	}
	root, err := ep.Calculate()
	if err != nil {
		return fmt.Errorf("%w: existence proof: %v", ErrBadProof, err)
	}
	if !bytes.Equal(root, appHash) {
		return fmt.Errorf("%w: the proof leads to root %X, the verified app hash is %X", ErrAppHashMismatch, []byte(root), appHash)
	}
	// Belt and braces: the library's own check of everything above.
	if !ics23.VerifyMembership(ics23.IavlSpec, appHash, proof, key, value) {
		return fmt.Errorf("%w: ICS23 membership verification failed", ErrBadProof)
	}
	return nil
}

func checkAbsence(proof *ics23.CommitmentProof, key, appHash []byte) error {
	np := proof.GetNonexist()
	if np == nil {
		if ep := proof.GetExist(); ep != nil {
			if !bytes.Equal(ep.Key, key) {
				return fmt.Errorf("%w: the answer says %q is absent but carries an existence proof for %q", ErrWrongKey, printable(key), printable(ep.Key))
			}
			return fmt.Errorf("%w: the answer says %q is absent but the proof shows it present", ErrTamperedValue, printable(key))
		}
		return fmt.Errorf("%w: want an absence proof for %q", ErrBadProof, printable(key))
	}
	if !bytes.Equal(np.Key, key) {
		return fmt.Errorf("%w: the absence proof is for key %q, asked for %q", ErrWrongKey, printable(np.Key), printable(key))
	}
	if np.Left == nil && np.Right == nil {
		return fmt.Errorf("%w: absence proof without neighbours", ErrBadProof)
	}
	root, err := np.Calculate()
	if err != nil {
		return fmt.Errorf("%w: absence proof: %v", ErrBadProof, err)
	}
	if !bytes.Equal(root, appHash) {
		return fmt.Errorf("%w: the proof leads to root %X, the verified app hash is %X", ErrAppHashMismatch, []byte(root), appHash)
	}
	if err := np.Verify(ics23.IavlSpec, appHash, key); err != nil {
		return fmt.Errorf("%w: absence proof: %v", ErrBadProof, err)
	}
	return nil
}

// printable shortens a key for an error message and keeps it one line.
func printable(b []byte) string {
	const limit = 80
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(b)
}

// existenceProof reports whether data is an ICS23 existence proof.
func existenceProof(data []byte) bool {
	p, err := decodeProof(data)
	return err == nil && p.GetExist() != nil
}

// firstDiff is the offset of the first byte where a and b differ.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
