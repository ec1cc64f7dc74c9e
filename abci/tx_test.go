package abci

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/xnode/xnode"
)

func TestTxRoundTrip(t *testing.T) {
	priv := key("alice")
	c := testCID(t, "x")
	must := mustTx(t)
	for _, tc := range []struct {
		tx      []byte
		payload Payload
	}{
		{must(NewRegisterNamespace(priv, testChain, 1, "photos")), &RegisterNamespace{Name: "photos"}},
		{must(NewSubmitRecord(priv, testChain, 2, "photos", "a/b c.jpg", c, 42)), &SubmitRecord{Namespace: "photos", Key: "a/b c.jpg", CID: c, Size: 42}},
		{must(NewAttest(priv, testChain, 3, Attest{Namespace: "photos", Key: "k", Version: 2, CID: c, OK: false, Reason: "size"})),
			&Attest{Namespace: "photos", Key: "k", Version: 2, CID: c, OK: false, Reason: "size"}},
		{must(NewParamChange(priv, testChain, 1<<63, DevParams())), &ParamChange{Params: DevParams()}},
	} {
		env, err := DecodeTx(tc.tx)
		if err != nil {
			t.Fatalf("DecodeTx(%s): %v", tc.payload.Kind(), err)
		}
		if env.Kind != tc.payload.Kind() || !bytes.Equal(env.Signer, pub(priv)) {
			t.Errorf("%s: decoded kind %s signer %x", tc.payload.Kind(), env.Kind, env.Signer)
		}
		got, _ := encMode.Marshal(env.Payload)
		want, _ := encMode.Marshal(tc.payload)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: payload %+v, want %+v", tc.payload.Kind(), env.Payload, tc.payload)
		}
		if err := env.Verify(testChain); err != nil {
			t.Errorf("%s: Verify: %v", tc.payload.Kind(), err)
		}
		if err := env.Verify(testChain + "x"); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: Verify on another chain = %v, want ErrBadSignature", tc.payload.Kind(), err)
		}
	}
}

// validWire returns the wire form of a valid register transaction, to be
// bent into invalid ones.
func validWire(t *testing.T) wireEnvelope {
	env, err := DecodeTx(mustTx(t)(NewRegisterNamespace(key("alice"), testChain, 1, "photos")))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := encMode.Marshal(env.Payload)
	return wireEnvelope{Kind: uint8(env.Kind), Signer: env.Signer, Nonce: env.Nonce, Payload: p, Signature: env.Signature}
}

func encodeWire(t *testing.T, w any) []byte {
	b, err := encMode.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeTxRejects(t *testing.T) {
	valid := encodeWire(t, validWire(t))
	if _, err := DecodeTx(valid); err != nil {
		t.Fatalf("valid wire: %v", err)
	}
	// In the valid encoding, byte 36 is the nonce (1): 0x85 kind 0x58 0x20 <32 bytes> nonce.
	if valid[0] != 0x85 || valid[36] != 0x01 {
		t.Fatalf("unexpected layout % x", valid[:40])
	}
	nonMinimal := append(append(append([]byte{}, valid[:36]...), 0x18, 0x01), valid[37:]...)
	indefinite := append(append([]byte{0x9f}, valid[1:]...), 0xff)

	unknownKind := validWire(t)
	unknownKind.Kind = 9
	shortSigner := validWire(t)
	shortSigner.Signer = shortSigner.Signer[:31]
	longSig := validWire(t)
	longSig.Signature = append(longSig.Signature, 0)
	extraField := validWire(t)
	extraField.Payload = encodeWire(t, []any{"photos", "extra"})
	wrongPayload := validWire(t)
	wrongPayload.Kind = uint8(KindSubmitRecord)
	unknownParam := validWire(t)
	unknownParam.Kind = uint8(KindParamChange)
	unknownParam.Payload = encodeWire(t, []any{map[string]any{"replication_factor": 1, "max_chunk_size": 1 << 20, "min_members": 1, "bogus": 1}})
	upperParam := validWire(t)
	upperParam.Kind = uint8(KindParamChange)
	upperParam.Payload = encodeWire(t, []any{map[string]any{"Replication_factor": 1, "max_chunk_size": 1 << 20, "min_members": 1}})
	sixFields := encodeWire(t, []any{uint8(1), make([]byte, 32), uint64(1), cbor.RawMessage(validWire(t).Payload), make([]byte, 64), 0})
	textSigner := encodeWire(t, []any{uint8(1), strings.Repeat("a", 32), uint64(1), cbor.RawMessage(validWire(t).Payload), make([]byte, 64)})
	tagged := append([]byte{0xd8, 0x18}, valid...) // tag 24 around the envelope

	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"nil", nil, ErrBadEncoding},
		{"trailing byte", append(append([]byte{}, valid...), 0), ErrBadEncoding},
		{"truncated", valid[:len(valid)-1], ErrBadEncoding},
		{"non-minimal integer", nonMinimal, ErrBadEncoding},
		{"indefinite length", indefinite, ErrBadEncoding},
		{"unknown kind", encodeWire(t, unknownKind), ErrBadEncoding},
		{"short signer", encodeWire(t, shortSigner), ErrBadEncoding},
		{"long signature", encodeWire(t, longSig), ErrBadEncoding},
		{"extra payload field", encodeWire(t, extraField), ErrBadEncoding},
		{"payload of another kind", encodeWire(t, wrongPayload), ErrBadEncoding},
		{"unknown param", encodeWire(t, unknownParam), ErrBadEncoding},
		{"param name in wrong case", encodeWire(t, upperParam), ErrBadEncoding},
		{"six fields", sixFields, ErrBadEncoding},
		{"text signer", textSigner, ErrBadEncoding},
		{"tag", tagged, ErrBadEncoding},
		{"oversize", append(valid, make([]byte, MaxTxBytes)...), ErrTooLarge},
	} {
		env, err := DecodeTx(tc.b)
		if !errors.Is(err, tc.want) || env != nil {
			t.Errorf("%s: DecodeTx = %v, %v; want %v", tc.name, env, err, tc.want)
		}
	}
}

func TestConstructorsValidate(t *testing.T) {
	priv := key("alice")
	c := testCID(t, "x")
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"bad name", second(NewRegisterNamespace(priv, testChain, 1, "ab"))},
		{"bad key", second(NewSubmitRecord(priv, testChain, 1, "photos", "", c, 1))},
		{"bad cid", second(NewSubmitRecord(priv, testChain, 1, "photos", "k", strings.ToUpper(c), 1))},
		{"version 0", second(NewAttest(priv, testChain, 1, Attest{Namespace: "photos", Key: "k", CID: c}))},
		{"long reason", second(NewAttest(priv, testChain, 1, Attest{Namespace: "photos", Key: "k", Version: 1, CID: c, Reason: strings.Repeat("r", MaxReasonLen+1)}))},
		{"bad params", second(NewParamChange(priv, testChain, 1, Params{}))},
	} {
		if CodeOf(tc.err) != CodeInvalid || !errors.Is(tc.err, xnode.ErrInvalidArgument) {
			t.Errorf("%s: err %v (code %d), want CodeInvalid wrapping ErrInvalidArgument", tc.name, tc.err, CodeOf(tc.err))
		}
	}
	if _, err := NewRegisterNamespace(priv[:10], testChain, 1, "photos"); err == nil {
		t.Error("short private key accepted")
	}
	if _, err := NewSubmitRecord(priv, testChain, 1, "photos", strings.Repeat("k", MaxKeyLen), c, 1); err != nil {
		t.Errorf("key of %d bytes refused: %v", MaxKeyLen, err)
	}
}

func second(_ []byte, err error) error { return err }

func TestNames(t *testing.T) {
	for name, ok := range map[string]bool{
		"abc": true, "a-1": true, strings.Repeat("a", 63): true,
		"ab": false, strings.Repeat("a", 64): false, "1ab": false, "-ab": false,
		"aBc": false, "a_b": false, "a/b": false, "a.b": false, "ab ": false,
	} {
		if err := ValidateNamespace(name); (err == nil) != ok {
			t.Errorf("ValidateNamespace(%q) = %v, want ok=%v", name, err, ok)
		}
	}
	for k, ok := range map[string]bool{
		"a": true, "a/b/c": true, "a b": true, "ünïcode": true, "trailing/": true, strings.Repeat("k", 256): true,
		"": false, "/a": false, "a\x00b": false, "tab\t": false, "\xff": false, strings.Repeat("k", 257): false,
	} {
		if err := ValidateKey(k); (err == nil) != ok {
			t.Errorf("ValidateKey(%q) = %v, want ok=%v", k, err, ok)
		}
	}
}

func TestCodeError(t *testing.T) {
	for code, kind := range map[uint32]error{
		CodeNotFound:         xnode.ErrNotFound,
		CodeUnknownNamespace: xnode.ErrNotFound,
		CodeConflict:         xnode.ErrConflict,
		CodeReplay:           xnode.ErrConflict,
		CodeTooLarge:         xnode.ErrTooLarge,
		CodeBadSignature:     xnode.ErrInvalidArgument,
	} {
		err := CodeError(code, "because")
		if !errors.Is(err, kind) || CodeOf(err) != code || !strings.Contains(err.Error(), "because") {
			t.Errorf("CodeError(%d) = %v: want kind %v and code back", code, err, kind)
		}
	}
	if CodeError(CodeOK, "") != nil {
		t.Error("CodeError(CodeOK) is not nil")
	}
	if err := CodeError(999, "x"); CodeOf(err) != CodeInternal {
		t.Errorf("unknown code maps to %d", CodeOf(err))
	}
}

func TestParseGenesisState(t *testing.T) {
	admin := base64.StdEncoding.EncodeToString(pub(key("admin")))
	g, err := ParseGenesisState([]byte(`{"params":{"replication_factor":5,"max_chunk_size":2048,"min_members":2},"admins":["` + admin + `"]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultParams()
	want.ReplicationFactor, want.MaxChunkSize, want.MinMembers = 5, 2048, 2
	if g.Params != want || len(g.Admins) != 1 || !bytes.Equal(g.Admins[0], pub(key("admin"))) {
		t.Errorf("parsed %+v", g)
	}
	if g, err := ParseGenesisState(nil); err != nil || g.Params != DefaultParams() {
		t.Errorf("empty app_state = %+v, %v; want defaults", g, err)
	}
	for _, bad := range []string{
		`{"params":{"replication_factor":0,"max_chunk_size":2048,"min_members":1}}`,
		`{"params":{"replication_factor":1,"max_chunk_size":512,"min_members":1}}`,
		`{"params":{"replication_factor":1,"max_chunk_size":8388608,"min_members":1}}`,
		`{"params":{"replication_factor":1,"max_chunk_size":2048,"min_members":0}}`,
		`{"params":{"replication_factor":1,"max_chunk_size":2048,"min_members":1,"extra":1}}`,
		`{"admins":["AAAA"]}`,
		`{"params":{}} {}`,
		`[`,
	} {
		if _, err := ParseGenesisState([]byte(bad)); err == nil {
			t.Errorf("ParseGenesisState(%s) accepted", bad)
		}
	}
}
