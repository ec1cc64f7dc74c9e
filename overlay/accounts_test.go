package overlay_test

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/api"
)

// TestAccountsAndValidators reads the dev network's accounts and validator
// set through the node and its API: the operator is funded and bonded as
// the one active validator, an address the chain never saw holds nothing,
// and a malformed address is INVALID_ARGUMENT.
func TestAccountsAndValidators(t *testing.T) {
	n, c, _ := singleNode(t, nil)
	ctx := t.Context()

	op, err := c.Account(ctx, api.OperatorAccount)
	if err != nil {
		t.Fatal(err)
	}
	opAddr, err := abci.ParseAddress(op.Address)
	if err != nil {
		t.Fatalf("operator address %q: %v", op.Address, err)
	}
	if op.Balance == 0 || op.Bonded == 0 {
		t.Fatalf("the dev genesis did not fund and bond the operator: %+v", op)
	}
	if again, err := n.Account(ctx, op.Address); err != nil || again.Balance != op.Balance || again.Address != op.Address {
		t.Fatalf("operator by address: %+v, %v", again, err)
	}

	pub, _, _ := ed25519.GenerateKey(nil)
	stranger := abci.AddressOf(pub).String()
	acc, err := c.Account(ctx, stranger)
	if err != nil || acc.Address != stranger || acc.Balance != 0 || acc.Bonded != 0 || acc.Unbonding == nil {
		t.Fatalf("unknown account: %+v, %v", acc, err)
	}

	for _, bad := range []string{"xnode1nope", "cosmos1qqqsyqcyq5rqwzqfpg9scrgwpugpzysn7mhh2z", "hello"} {
		_, err := c.Account(ctx, bad)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Code != api.CodeInvalidArgument {
			t.Errorf("Account(%q): %v, want INVALID_ARGUMENT", bad, err)
		}
		if _, err := n.Account(ctx, bad); !errors.Is(err, xnode.ErrInvalidArgument) {
			t.Errorf("node Account(%q): %v", bad, err)
		}
	}

	vs, err := c.Validators(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].PeerID != st.PeerID || vs[0].Address != opAddr.String() ||
		vs[0].Status != api.ValidatorActive || vs[0].Power <= 0 || vs[0].Stake != op.Bonded {
		t.Fatalf("validators: %+v (node %s, operator %s)", vs, st.PeerID, opAddr)
	}
}
