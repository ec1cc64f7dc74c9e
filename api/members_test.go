package api

import (
	"strings"
	"testing"
)

// TestMembersHideObservers: /v1/members lists the members only; ?all=true
// (the client's AllMembers, `xnode members --all`) adds the observers.
func TestMembersHideObservers(t *testing.T) {
	h := newHarness(t, nil)
	h.node.mu.Lock()
	h.node.members = append(h.node.members, Member{PeerID: "12D3KooWObserver", State: MemberObserver})
	h.node.mu.Unlock()
	ms, err := h.client.Members(t.Context())
	if err != nil || len(ms) != 1 || ms[0].State == MemberObserver {
		t.Fatalf("members %+v (%v): want the one member, no observer", ms, err)
	}
	all, err := h.client.AllMembers(t.Context())
	if err != nil || len(all) != 2 || all[1].State != MemberObserver || all[1].Addrs == nil {
		t.Fatalf("all members %+v (%v): want the member and the observer", all, err)
	}
	if _, body := h.do("GET", "/v1/members?all=false", nil, nil); strings.Contains(string(body), MemberObserver) {
		t.Fatalf("?all=false lists an observer: %s", body)
	}
	for _, q := range []string{"?all=1", "?all=true"} {
		if resp, body := h.do("GET", "/v1/members"+q, nil, nil); resp.StatusCode != 200 || !strings.Contains(string(body), MemberObserver) {
			t.Fatalf("GET /v1/members%s: %d %s", q, resp.StatusCode, body)
		}
	}
}
