package rendezvous

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// update rewrites testdata/golden.json from the current code. Run it only
// when the placement contract changes on purpose, which moves blocks in any
// existing network: go test ./rendezvous/ -run TestGolden -update
var update = flag.Bool("update", false, "rewrite testdata/golden.json from the current algorithm")

const goldenPath = "testdata/golden.json"

// golden is the file format. It is self-contained: the inputs are stored with
// the expected outputs, so another implementation can check itself against it.
type golden struct {
	Comment string `json:"comment"`
	// Hashes pins every step for single (key, member) pairs.
	Hashes []goldenHash `json:"hashes"`
	// Sets are the memberships placements refer to by name.
	Sets map[string][]goldenMember `json:"sets"`
	// Placements pin Owners (and, where given, the full Rank).
	Placements []goldenPlacement `json:"placements"`
}

type goldenMember struct {
	ID     string  `json:"id"`
	Weight float64 `json:"weight"`
}

type goldenHash struct {
	Key    string  `json:"key"` // hex
	ID     string  `json:"id"`
	Weight float64 `json:"weight"`
	Seed   string  `json:"seed"`  // XXH64(key, 0), hex
	Hash   string  `json:"hash"`  // XXH64(id, seed), hex
	Unit   float64 `json:"unit"`  // u in (0,1)
	Score  float64 `json:"score"` // -w/ln(u)
}

type goldenPlacement struct {
	Key    string         `json:"key"` // hex
	Set    string         `json:"set"`
	R      int            `json:"r"`
	Owners []goldenMember `json:"owners"`
	Rank   []goldenMember `json:"rank,omitempty"`
}

func TestGolden(t *testing.T) {
	if *update {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // keep ">>" and "<=" readable in the comment
		enc.SetIndent("", "  ")
		if err := enc.Encode(generateGolden()); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPath, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", goldenPath)
	}

	data, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("read golden vectors (create them with -update): %v", err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatalf("decode %s: %v", goldenPath, err)
	}
	if len(g.Hashes) == 0 || len(g.Placements) == 0 {
		t.Fatalf("%s holds no vectors", goldenPath)
	}

	for i, v := range g.Hashes {
		key := mustHex(t, v.Key)
		seed := keySeed(key)
		h := memberHash(seed, v.ID)
		if got := hexU64(seed); got != v.Seed {
			t.Errorf("hash %d: seed = %s, want %s", i, got, v.Seed)
		}
		if got := hexU64(h); got != v.Hash {
			t.Errorf("hash %d: hash(%q) = %s, want %s", i, v.ID, got, v.Hash)
		}
		if got := unitInterval(h); got != v.Unit {
			t.Errorf("hash %d: unit = %v, want %v", i, got, v.Unit)
		}
		if got := Score(key, Member{v.ID, v.Weight}); got != v.Score {
			t.Errorf("hash %d: score = %v, want %v (bit-exact)", i, got, v.Score)
		}
	}

	for i, p := range g.Placements {
		set, ok := g.Sets[p.Set]
		if !ok {
			t.Fatalf("placement %d: unknown set %q", i, p.Set)
		}
		members := toMembers(set)
		key := mustHex(t, p.Key)
		if got := fromMembers(Owners(key, members, p.R)); !slices.Equal(got, p.Owners) {
			t.Errorf("placement %d (set %s, key %s, r=%d): owners = %v, want %v", i, p.Set, p.Key, p.R, got, p.Owners)
		}
		if p.Rank != nil {
			if got := fromMembers(Rank(key, members)); !slices.Equal(got, p.Rank) {
				t.Errorf("placement %d (set %s, key %s): rank = %v, want %v", i, p.Set, p.Key, got, p.Rank)
			}
		}
	}
}

// generateGolden builds the vectors from fixed seeds. Only -update calls it;
// the check reads inputs back from the file, so regenerating different inputs
// cannot hide a change of algorithm.
func generateGolden() golden {
	g := golden{
		Comment: "Weighted rendezvous placement vectors for github.com/xnode/xnode/rendezvous. " +
			"seed = XXH64(key, 0); hash = XXH64(id, seed); unit = ((hash >> 12) + 0.5) / 2^52; score = -weight / ln(unit); " +
			"owners = the r highest scores, ties by smaller id, ineligible (weight <= 0, NaN, +Inf) left out, duplicate ids once " +
			"(highest weight). Keys are hex; scores and units are float64, exact. Regenerate only on purpose: go test ./rendezvous/ -run TestGolden -update",
		Sets: map[string][]goldenMember{},
	}

	peers := fakePeerIDs(100, 100)
	equal100 := make([]goldenMember, len(peers))
	for i, id := range peers {
		equal100[i] = goldenMember{id, 1}
	}
	g.Sets["equal100"] = equal100

	weighted := make([]goldenMember, 20)
	for i, id := range fakePeerIDs(101, 20) {
		weighted[i] = goldenMember{id, float64(i+1) * 1.25e11} // capacities in bytes
	}
	g.Sets["weighted20"] = weighted

	g.Sets["mixed"] = []goldenMember{
		{"alpha", 1}, {"bravo", 2}, {"charlie", 0.5}, {"delta", 0}, {"echo", -3},
		{"bravo", 5}, {"foxtrot", 1e-9}, {"", 1}, {"golf", 3}, {"alpha", 1},
	}
	g.Sets["empty"] = []goldenMember{}

	cids := cidKeys(102, 24)
	for i, k := range cids[:8] {
		id := peers[i]
		w := []float64{1, 1, 2, 0.5, 1e12, 3.75, 1, 7}[i]
		seed := keySeed(k)
		h := memberHash(seed, id)
		g.Hashes = append(g.Hashes, goldenHash{
			Key: hex.EncodeToString(k), ID: id, Weight: w, Seed: hexU64(seed), Hash: hexU64(h),
			Unit: unitInterval(h), Score: Score(k, Member{id, w}),
		})
	}
	// Short and empty keys exercise the hash's tail paths.
	for _, k := range [][]byte{{}, {0x00}, []byte("abcd"), []byte("0123456789abcdef0123456789abcdef")} {
		seed := keySeed(k)
		h := memberHash(seed, "a")
		g.Hashes = append(g.Hashes, goldenHash{
			Key: hex.EncodeToString(k), ID: "a", Weight: 1, Seed: hexU64(seed), Hash: hexU64(h),
			Unit: unitInterval(h), Score: Score(k, Member{"a", 1}),
		})
	}

	add := func(set string, key []byte, r int, withRank bool) {
		members := toMembers(g.Sets[set])
		p := goldenPlacement{Key: hex.EncodeToString(key), Set: set, R: r, Owners: fromMembers(Owners(key, members, r))}
		if withRank {
			p.Rank = fromMembers(Rank(key, members))
		}
		g.Placements = append(g.Placements, p)
	}
	for _, k := range cids[8:24] {
		add("equal100", k, 3, false)
	}
	for _, k := range cids[8:16] {
		add("weighted20", k, 5, true)
	}
	for _, k := range cids[16:24] {
		add("mixed", k, 3, true)
	}
	add("mixed", cids[0], 100, false)
	add("mixed", cids[0], 0, false)
	add("equal100", nil, 1, false)
	add("empty", cids[0], 3, false)
	return g
}

func toMembers(gs []goldenMember) []Member {
	ms := make([]Member, len(gs))
	for i, m := range gs {
		ms[i] = Member(m)
	}
	return ms
}

// fromMembers never returns nil, so an empty result encodes as [] and
// compares equal to one decoded from the file.
func fromMembers(ms []Member) []goldenMember {
	gs := make([]goldenMember, len(ms))
	for i, m := range ms {
		gs[i] = goldenMember(m)
	}
	return gs
}

func hexU64(x uint64) string { return fmt.Sprintf("%016x", x) }

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("golden key %q: %v", s, err)
	}
	return b
}
