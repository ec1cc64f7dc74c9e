package localnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/internal/testutil"
)

func TestInProcessThreeNodes(t *testing.T) {
	nodes := StartInProcess(t, 3, InProcessOptions{})
	if len(nodes) != 3 {
		t.Fatalf("got %d nodes, want 3", len(nodes))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for _, n := range nodes {
		st, err := n.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Members != 3 || st.Height < ReadyHeight || st.Replication != 3 {
			t.Fatalf("%s: members %d height %d replication %d; want 3, >= 2, 3", st.PeerID, st.Members, st.Height, st.Replication)
		}
	}
	c0 := client(t, nodes[0].APIURL())
	c1 := client(t, nodes[1].APIURL())
	c2 := client(t, nodes[2].APIURL())

	// A blob put through node0 reads back identical from node2.
	blob := make([]byte, 3<<20+123)
	rand.Read(blob)
	res, err := c0.Put(ctx, bytes.NewReader(blob))
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	if res.Size != uint64(len(blob)) {
		t.Fatalf("put size %d, want %d", res.Size, len(blob))
	}
	var got bytes.Buffer
	if _, err := c2.Get(ctx, res.CID, &got); err != nil {
		t.Fatalf("get from node2: %v", err)
	}
	if !bytes.Equal(got.Bytes(), blob) {
		t.Fatalf("node2 returned %d bytes that differ from the %d put", got.Len(), len(blob))
	}

	// A record submitted on node1 is attested by the validators.
	if _, err := c1.RegisterNamespace(ctx, "photos"); err != nil {
		t.Fatalf("register: %v", err)
	}
	if _, err := c1.SubmitRecord(ctx, "photos", "cat.jpg", res.CID); err != nil {
		t.Fatalf("submit: %v", err)
	}
	var rec api.Record
	testutil.Eventually(t, 45*time.Second, func() bool {
		rec, err = c2.Record(ctx, "photos", "cat.jpg")
		return err == nil && rec.Status == "verified"
	}, "record not verified: %+v, %v", &rec, &err)
	if rec.CID != res.CID || len(rec.Attestations) < 3 {
		t.Fatalf("record %+v: want cid %s and 3 attestations", rec, res.CID)
	}
}

func client(t *testing.T, url string) *api.Client {
	t.Helper()
	c, err := api.NewClient(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInProcessChurn(t *testing.T) {
	net := NewInProcess(t, 2, InProcessOptions{Validators: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	// A node that joins later through the genesis protocol becomes a member.
	added := net.AddNode(t)
	if len(net.Nodes) != 3 || net.Nodes[2] != added {
		t.Fatalf("AddNode did not append the node")
	}
	WaitConverged(t, net.Nodes, 3, 30*time.Second)
	blob := make([]byte, 200<<10)
	rand.Read(blob)
	res, err := client(t, net.Nodes[0].APIURL()).Put(ctx, bytes.NewReader(blob))
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	var got bytes.Buffer
	if _, err := client(t, added.APIURL()).Get(ctx, res.CID, &got); err != nil || !bytes.Equal(got.Bytes(), blob) {
		t.Fatalf("get through the added node: %v (%d bytes)", err, got.Len())
	}

	// An abrupt stop is detected as a failure by the others.
	if err := net.Stop(1); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if len(net.Live()) != 2 {
		t.Fatalf("%d live nodes after a stop, want 2", len(net.Live()))
	}
	WaitConverged(t, net.Live(), 2, 30*time.Second)

	// Restarted from its home, it is the same peer and rejoins.
	id := net.Nodes[1].ID()
	n := net.Restart(t, 1)
	if n.ID() != id {
		t.Fatalf("restarted node has peer id %s, was %s", n.ID(), id)
	}
	WaitConverged(t, net.Nodes, 3, 30*time.Second)
}
