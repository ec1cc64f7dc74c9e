package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	carstorage "github.com/ipld/go-car/v2/storage"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
)

// The media types of the trustless gateway (IPFS HTTP gateway specs).
const (
	mediaRaw  = "application/vnd.ipld.raw"
	mediaCAR  = "application/vnd.ipld.car"
	mediaFile = "application/octet-stream"
	// carContentType is what a CAR answer is: CARv1, blocks depth first in
	// link order, each block once.
	carContentType = mediaCAR + "; version=1; order=dfs; dups=n"
)

// servedTypes lists, for a 406, what the gateway answers with.
var servedTypes = []string{mediaRaw, mediaCAR + "; version=1", mediaFile + " (the file, also */*)"}

// gatewayFormat is what a gateway request asks for.
type gatewayFormat int

const (
	formatFile gatewayFormat = iota
	formatRaw
	formatCAR
)

// errNotAcceptable is an Accept the gateway serves nothing of.
var errNotAcceptable = errors.New("not acceptable")

// negotiate picks the answer's format: ?format= first, then the Accept
// header (highest q first, in order among equals), then the plain file.
func negotiate(r *http.Request) (gatewayFormat, error) {
	if f := r.URL.Query().Get("format"); f != "" {
		switch f {
		case "raw":
			return formatRaw, nil
		case "car":
			return formatCAR, nil
		}
		return 0, fmt.Errorf("api: %w: format %q: this gateway serves raw and car", xnode.ErrInvalidArgument, f)
	}
	accept := r.Header.Values("Accept")
	if len(accept) == 0 {
		return formatFile, nil
	}
	type choice struct {
		f gatewayFormat
		q float64
	}
	var choices []choice
	for _, part := range strings.Split(strings.Join(accept, ","), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		mt, params, err := mime.ParseMediaType(part)
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(v, 64); err != nil {
				continue
			}
		}
		if q <= 0 {
			continue
		}
		switch mt {
		case mediaRaw:
			choices = append(choices, choice{formatRaw, q})
		case mediaCAR:
			if v, ok := params["version"]; ok && v != "1" {
				continue
			}
			if o, ok := params["order"]; ok && o != "dfs" && o != "unk" {
				continue
			}
			choices = append(choices, choice{formatCAR, q})
		case mediaFile, "*/*", "application/*":
			choices = append(choices, choice{formatFile, q})
		}
	}
	if len(choices) == 0 {
		return 0, errNotAcceptable
	}
	best := choices[0]
	for _, c := range choices[1:] {
		if c.q > best.q {
			best = c
		}
	}
	return best.f, nil
}

// handleGateway serves GET and HEAD /ipfs/{cid}: a trustless gateway. It
// answers one block (raw), the DAG under the CID as a CAR (with dag-scope
// all, entity or block), or the plain file. Every block it sends was
// checked against its CID on the way.
func (s *Server) handleGateway(w http.ResponseWriter, r *http.Request) {
	c, err := parseCID(r.PathValue("cid"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f, err := negotiate(r)
	if errors.Is(err, errNotAcceptable) {
		s.writeJSONError(w, r, http.StatusNotAcceptable, CodeInvalidArgument,
			fmt.Sprintf("no type in Accept %q is served here; served: %s", strings.Join(r.Header.Values("Accept"), ", "), strings.Join(servedTypes, ", ")))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("X-Ipfs-Path", "/ipfs/"+c.String())
	h.Set("X-Ipfs-Roots", c.String())
	h.Add("Vary", "Accept")
	switch f {
	case formatRaw:
		s.serveRaw(w, r, c)
	case formatCAR:
		s.serveCAR(w, r, c)
	default:
		s.serveFile(w, r, c, true)
	}
}

// serveRaw answers one block, with Range.
func (s *Server) serveRaw(w http.ResponseWriter, r *http.Request, c cid.Cid) {
	data, err := s.node.GetBlock(r.Context(), c)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", mediaRaw)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", c.String()+".bin"))
	h.Set("ETag", `"`+c.String()+`.raw"`)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// serveCAR streams the DAG under c as a CARv1 with c as its root.
func (s *Server) serveCAR(w http.ResponseWriter, r *http.Request, c cid.Cid) {
	scope := r.URL.Query().Get("dag-scope")
	switch scope {
	case "", "all", "entity", "block":
	default:
		s.writeError(w, r, fmt.Errorf("api: %w: dag-scope %q: want all, entity or block", xnode.ErrInvalidArgument, scope))
		return
	}
	from, to, err := entityBytes(r.URL.Query().Get("entity-bytes"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if scope == "" {
		scope = "all"
	}
	// The root goes first: a missing or corrupt root still gets a JSON
	// error, before any byte of the CAR.
	rootData, err := s.node.GetBlock(r.Context(), c)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", carContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", c.String()+".car"))
	h.Set("ETag", fmt.Sprintf(`W/"%s.car.%s.%s"`, c, scope, r.URL.Query().Get("entity-bytes")))
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("Accept-Ranges", "none")
	if etagListMatches(r.Header.Get("If-None-Match"), strings.TrimPrefix(h.Get("ETag"), "W/")) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	cw, err := carstorage.NewWritable(w, []cid.Cid{c}, carv2.WriteAsCarV1(true))
	if err != nil {
		s.writeError(w, r, fmt.Errorf("api: car: %w", err))
		return
	}
	ctx := r.Context()
	put := func(b block.Block) error { return cw.Put(ctx, b.CID.KeyString(), b.Data) }
	fetch := func(ctx context.Context, bc cid.Cid) (block.Block, error) {
		if bc.Equals(c) {
			return block.Block{CID: c, Data: rootData}, nil
		}
		data, err := s.node.GetBlock(ctx, bc)
		return block.Block{CID: bc, Data: data}, err
	}
	switch {
	case scope == "block":
		err = put(block.Block{CID: c, Data: rootData})
	case scope == "entity" && (from != 0 || to != -1):
		err = entityRange(ctx, c, rootData, from, to, fetch, put)
	default:
		err = block.Walk(ctx, c, fetch, put)
	}
	if err == nil {
		return
	}
	if ctx.Err() == nil {
		s.log.Error("api: CAR failed mid-stream; aborting the response",
			"request_id", RequestID(ctx), "cid", c.String(), "err", err)
	}
	// A CAR cut short must not look whole: end the connection.
	panic(http.ErrAbortHandler)
}

// entityBytes reads entity-bytes=from:to (to may be * for the end; either
// may be negative, counted from the end). It returns 0, -1 when absent.
func entityBytes(v string) (from, to int64, err error) {
	if v == "" {
		return 0, -1, nil
	}
	a, b, ok := strings.Cut(v, ":")
	bad := fmt.Errorf("api: %w: entity-bytes %q: want from:to", xnode.ErrInvalidArgument, v)
	if !ok {
		return 0, 0, bad
	}
	if from, err = strconv.ParseInt(a, 10, 64); err != nil {
		return 0, 0, bad
	}
	if b == "*" {
		return from, -1, nil
	}
	if to, err = strconv.ParseInt(b, 10, 64); err != nil {
		return 0, 0, bad
	}
	if from >= 0 && to >= 0 && to < from {
		return 0, 0, bad
	}
	return from, to, nil
}

// entityRange puts the blocks needed to read bytes [from, to] of the file
// under c: the nodes on the way down, then the leaves that hold the range.
func entityRange(ctx context.Context, c cid.Cid, rootData []byte, from, to int64, fetch block.Fetcher, put func(block.Block) error) error {
	rb := block.Block{CID: c, Data: rootData}
	root, err := block.DecodeNode(rb)
	if err != nil {
		return err
	}
	size := int64(root.Size)
	if from < 0 {
		from = max(0, size+from)
	}
	if to < 0 {
		to = size + to // -1 is the last byte
	}
	to = min(to, size-1)
	if err := put(rb); err != nil {
		return err
	}
	if from > to || from >= size {
		return nil
	}
	nodes := func(ctx context.Context, bc cid.Cid) (block.Block, error) {
		b, err := fetch(ctx, bc)
		if err == nil {
			err = put(b)
		}
		return b, err
	}
	return block.Pieces(ctx, root, uint64(from), uint64(to-from+1), nodes, func(p block.Piece) error {
		if !p.CID.Defined() {
			return nil
		}
		b, err := fetch(ctx, p.CID)
		if err != nil {
			return err
		}
		return put(b)
	})
}

// handleImportCAR serves POST /v1/car: the body is a CAR whose blocks are
// checked, stored and placed; 201 with the roots once all are durable.
func (s *Server) handleImportCAR(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > s.cfg.MaxBodyBytes {
		s.writeError(w, r, fmt.Errorf("api: %w: Content-Length %d over the limit of %d bytes",
			xnode.ErrTooLarge, r.ContentLength, s.cfg.MaxBodyBytes))
		return
	}
	body := &trackedReader{r: http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)}
	res, err := s.node.ImportCAR(r.Context(), body)
	if berr := body.failure(); berr != nil {
		var maxBytes *http.MaxBytesError
		if !errors.As(berr, &maxBytes) {
			berr = fmt.Errorf("api: %w: reading request body: %v", xnode.ErrInvalidArgument, berr)
		}
		s.writeError(w, r, berr)
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusCreated, res)
}
