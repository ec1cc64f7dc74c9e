package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/localnet"
)

func TestServiceCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	nodes := localnet.StartInProcess(t, 1, localnet.InProcessOptions{})
	apiURL := nodes[0].APIURL()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hi %s %s", r.Method, r.URL.Path)
	}))
	defer web.Close()
	target := strings.TrimPrefix(web.URL, "http://")
	cli := func(args ...string) (int, string, string) {
		return runCLI(t, append([]string{"--api", apiURL}, args...)...)
	}

	for _, bad := range [][]string{
		{"service", "expose", "acme/web"},                                   // no --target
		{"service", "expose", "nons", "--target", target},                   // bad name
		{"service", "expose", "acme/web", "--target", target, "--tag", "x"}, // bad tag
		{"service", "instances"},
		{"service", "forward", "acme/web"}, // no --listen
	} {
		if code, _, errOut := cli(bad...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d %q, want usage error 2", bad, code, errOut)
		}
	}
	if code, _, errOut := cli("service", "expose", "acme/web", "--target", target); code == 0 || !strings.Contains(errOut, "ns allow") {
		t.Fatalf("expose before the namespace exists: exit %d %q", code, errOut)
	}
	if code, _, errOut := cli("ns", "register", "acme"); code != 0 {
		t.Fatalf("ns register: %d %s", code, errOut)
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		code, _, _ := cli("service", "expose", "acme/web", "--target", target, "--tag", "zone=a")
		return code == 0
	}, "expose after register")
	testutil.Eventually(t, 30*time.Second, func() bool {
		code, out, _ := cli("--json", "service", "instances", "acme/web")
		var e api.ServiceEntry
		return code == 0 && json.Unmarshal([]byte(out), &e) == nil && len(e.Instances) == 1 && e.Instances[0].Tags["zone"] == "a"
	}, "the instance listed")
	if code, out, errOut := cli("service", "ls"); code != 0 || !strings.Contains(out, "acme/web") {
		t.Fatalf("ls: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := cli("service", "call", "acme/web", "/x"); code != 0 || out != "hi GET /x" {
		t.Fatalf("call: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := cli("service", "call", "acme/none"); code == 0 || !strings.Contains(errOut, "NOT_FOUND") {
		t.Fatalf("call unknown: %d %q", code, errOut)
	}
	code, out, errOut := cli("--json", "service", "forward", "acme/web", "--listen", "127.0.0.1:0")
	var fw api.ForwardRequest
	if code != 0 || json.Unmarshal([]byte(out), &fw) != nil {
		t.Fatalf("forward: %d %q %q", code, out, errOut)
	}
	resp, err := http.Get("http://" + fw.Listen + "/f")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hi GET /f" {
		t.Fatalf("through the forward: %q", b)
	}
	if code, _, errOut := cli("service", "forward", "acme/web", "--listen", fw.Listen, "--close"); code != 0 {
		t.Fatalf("forward --close: %d %s", code, errOut)
	}
	if code, _, errOut := cli("service", "unexpose", "acme/web"); code != 0 {
		t.Fatalf("unexpose: %d %s", code, errOut)
	}
}
