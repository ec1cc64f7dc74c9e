package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/internal/testutil"
)

// acctNode is a fake chain of accounts and validators.
type acctNode struct {
	*fakeNode
	accounts   map[string]Account
	validators []Validator
	asked      []string
}

const (
	testAddr     = "xnode1qqqsyqcyq5rqwzqfpg9scrgwpugpzysn7mhh2z"
	testOperator = "xnode1operatoroperatoroperatoroperatorxxxx"
)

func (n *acctNode) Account(ctx context.Context, address string) (Account, error) {
	n.asked = append(n.asked, address)
	if err := n.fail("Account"); err != nil {
		return Account{}, err
	}
	if address == OperatorAccount {
		address = testOperator
	}
	if !strings.HasPrefix(address, "xnode1") {
		return Account{}, fmt.Errorf("fake: %w: %q is not an xnode address", xnode.ErrInvalidArgument, address)
	}
	if a, ok := n.accounts[address]; ok {
		return a, nil
	}
	return Account{Address: address}, nil
}

func (n *acctNode) Validators(ctx context.Context) ([]Validator, error) {
	if err := n.fail("Validators"); err != nil {
		return nil, err
	}
	return n.validators, nil
}

func newAcctHarness(t *testing.T, node Node) *Client {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	reg := prometheus.NewRegistry()
	srv, err := New(cfg, node, reg, reg, testutil.Logger(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c, err := NewClient("http://"+srv.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAccount(t *testing.T) {
	release := time.Date(2026, 12, 26, 1, 2, 3, 0, time.UTC)
	node := &acctNode{fakeNode: newFakeNode(), accounts: map[string]Account{
		testAddr:     {Address: testAddr, Balance: 70, Bonded: 20, Unbonding: []Unbonding{{Amount: 10, ReleaseTime: release}}},
		testOperator: {Address: testOperator, Balance: 1000},
	}}
	c := newAcctHarness(t, node)

	acc, err := c.Account(t.Context(), testAddr)
	if err != nil {
		t.Fatal(err)
	}
	if acc.Balance != 70 || acc.Bonded != 20 || len(acc.Unbonding) != 1 || !acc.Unbonding[0].ReleaseTime.Equal(release) {
		t.Fatalf("account: %+v", acc)
	}
	// The contract's JSON names, and an empty unbonding list rather than null.
	resp, err := http.Get(c.BaseURL() + "/v1/accounts/" + testOperator)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	if raw["address"] != testOperator || raw["balance"] != float64(1000) || raw["bonded"] != float64(0) {
		t.Fatalf("GET /v1/accounts JSON: %v", raw)
	}
	if u, ok := raw["unbonding"].([]any); !ok || len(u) != 0 {
		t.Fatalf("unbonding: %#v, want []", raw["unbonding"])
	}
	// "operator" names the node's own account.
	if acc, err := c.Account(t.Context(), OperatorAccount); err != nil || acc.Address != testOperator || acc.Balance != 1000 {
		t.Fatalf("operator: %+v, %v", acc, err)
	}
	// An unknown address holds nothing.
	other := "xnode1zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
	if acc, err := c.Account(t.Context(), other); err != nil || acc.Balance != 0 || acc.Address != other {
		t.Fatalf("unknown: %+v, %v", acc, err)
	}
}

func TestAccountBadInput(t *testing.T) {
	node := &acctNode{fakeNode: newFakeNode()}
	c := newAcctHarness(t, node)
	for _, addr := range []string{"not-an-address", strings.Repeat("x", 200)} {
		_, err := c.Account(t.Context(), addr)
		var ae *Error
		if !errors.As(err, &ae) || ae.Code != CodeInvalidArgument {
			t.Errorf("Account(%.20q): %v, want INVALID_ARGUMENT", addr, err)
		}
	}
	if _, err := c.Account(t.Context(), ""); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Errorf("empty address: %v", err)
	}
	// The over-long one never reached the node.
	for _, a := range node.asked {
		if len(a) > maxAddressParam {
			t.Errorf("node asked for a %d-character address", len(a))
		}
	}
	node.errs["Account"] = fmt.Errorf("fake: chain down: %w", xnode.ErrUnavailable)
	var ae *Error
	if _, err := c.Account(t.Context(), testAddr); !errors.As(err, &ae) || ae.Code != CodeUnavailable {
		t.Errorf("node failing: %v, want UNAVAILABLE", err)
	}
}

func TestValidators(t *testing.T) {
	node := &acctNode{fakeNode: newFakeNode(), validators: []Validator{
		{Address: testAddr, PubKey: "ab", PeerID: "12D3KooWA", Power: 10, Stake: 10, Status: ValidatorActive},
		{Address: testOperator, PubKey: "cd", PeerID: "12D3KooWB", Stake: 5, Status: ValidatorJailed, Missed: 60, JailedUntil: "2026-12-05T01:00:00Z"},
	}}
	c := newAcctHarness(t, node)
	vs, err := c.Validators(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[1].Status != ValidatorJailed || vs[1].Missed != 60 || vs[0].Power != 10 {
		t.Fatalf("validators: %+v", vs)
	}
	resp, err := http.Get(c.BaseURL() + "/v1/validators")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"address", "peer_id", "power", "stake", "status", "missed", "jailed_until"} {
		if _, ok := raw[0][field]; !ok {
			t.Errorf("GET /v1/validators lacks %q: %v", field, raw[0])
		}
	}
	// No validators is an empty list, not null.
	node.validators = nil
	resp2, err := http.Get(c.BaseURL() + "/v1/validators")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var empty []map[string]any
	if err := json.NewDecoder(resp2.Body).Decode(&empty); err != nil || empty == nil || len(empty) != 0 {
		t.Fatalf("empty set: %v, %v, want []", empty, err)
	}
}

// TestAccountsUnavailable: a node that cannot read accounts answers
// UNAVAILABLE on both endpoints, not a 404 that reads like an unknown route.
func TestAccountsUnavailable(t *testing.T) {
	c := newAcctHarness(t, newFakeNode())
	var ae *Error
	if _, err := c.Account(t.Context(), testAddr); !errors.As(err, &ae) || ae.Code != CodeUnavailable {
		t.Errorf("Account: %v", err)
	}
	if _, err := c.Validators(t.Context()); !errors.As(err, &ae) || ae.Code != CodeUnavailable {
		t.Errorf("Validators: %v", err)
	}
}
