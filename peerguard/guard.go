package peerguard

import (
	"net/netip"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Guard is the ban table: violations in, verdicts out. Time enters only as
// arguments and it does no I/O, so it is tested with a synthetic clock. It
// is not safe for concurrent use; Gater serialises the calls it makes.
type Guard struct {
	cfg   Config
	peers map[peer.ID]*record
	ips   map[netip.Addr]ipBan
	// conns counts the live connections by remote address and peer, from
	// Connected and Disconnected. Its size is the number of live
	// connections, which the resource manager bounds.
	conns map[netip.Addr]map[peer.ID]int
}

// record is what the guard remembers of one peer.
type record struct {
	strikes []time.Time // violations within Window, oldest first; fewer than Strikes
	bans    int         // bans so far (while remembered): the doubling
	until   time.Time   // end of the current or last ban
	last    time.Time   // the latest violation
	reason  string      // the latest violation's reason
}

// ipBan is an address banned with a peer.
type ipBan struct {
	until time.Time
	peer  peer.ID
}

// Verdict is the outcome of one violation.
type Verdict struct {
	// Banned reports whether the peer is banned after this violation,
	// whether this one banned it or it already was.
	Banned bool
	// NewBan reports that this violation started the ban: the caller cuts
	// the peer off and logs once.
	NewBan bool
	// Until is when the ban ends (zero when not banned).
	Until time.Time
	// Strikes is how many violations within Window count towards a ban
	// (after a new ban, the count that triggered it).
	Strikes int
	// IPs are the addresses banned with a new ban: the peer's current
	// connections' addresses, loopback excepted.
	IPs []netip.Addr
}

// New returns an empty guard, or the error of cfg.Validate.
func New(cfg Config) (*Guard, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Guard{
		cfg:   cfg,
		peers: make(map[peer.ID]*record),
		ips:   make(map[netip.Addr]ipBan),
		conns: make(map[netip.Addr]map[peer.ID]int),
	}, nil
}

// Strike records a violation by p at now. Strikes violations within Window
// ban p for Ban, doubled for each earlier ban still remembered, at most
// MaxBan; the addresses p is connected from at that moment are banned with
// it (see IPRefused). A violation while p is banned changes nothing: a
// peer's in-flight streams may still fail after its ban, and a ban is
// extended only by a new ban once it has ended.
func (g *Guard) Strike(p peer.ID, reason string, now time.Time) Verdict {
	r := g.peers[p]
	if r != nil && g.quiet(r, now) {
		delete(g.peers, p)
		r = nil
	}
	if r == nil {
		g.makeRoom(now)
		r = &record{strikes: make([]time.Time, 0, g.cfg.Strikes)}
		g.peers[p] = r
	}
	r.last, r.reason = now, reason
	if now.Before(r.until) {
		return Verdict{Banned: true, Until: r.until}
	}
	keep := r.strikes[:0]
	for _, t := range r.strikes {
		if now.Sub(t) < g.cfg.Window {
			keep = append(keep, t)
		}
	}
	r.strikes = append(keep, now)
	if len(r.strikes) < g.cfg.Strikes {
		return Verdict{Strikes: len(r.strikes)}
	}
	v := Verdict{Banned: true, NewBan: true, Strikes: len(r.strikes)}
	r.strikes = r.strikes[:0]
	r.until = now.Add(g.banLength(r.bans))
	r.bans++
	v.Until = r.until
	for ip, ps := range g.conns {
		if ps[p] > 0 && !ip.IsLoopback() {
			g.banIP(ip, p, r.until, now)
			v.IPs = append(v.IPs, ip)
		}
	}
	return v
}

// banLength is the length of a peer's ban after prior earlier ones: Ban
// doubled prior times, at most MaxBan.
func (g *Guard) banLength(prior int) time.Duration {
	d := g.cfg.Ban
	for range prior {
		if d >= g.cfg.MaxBan/2 {
			return g.cfg.MaxBan
		}
		d *= 2
	}
	return min(d, g.cfg.MaxBan)
}

// Banned reports whether p is banned at now.
func (g *Guard) Banned(p peer.ID, now time.Time) bool {
	r := g.peers[p]
	return r != nil && now.Before(r.until)
}

// Until returns when p's ban ends, or the zero time when p is not banned
// at now.
func (g *Guard) Until(p peer.ID, now time.Time) time.Time {
	if !g.Banned(p, now) {
		return time.Time{}
	}
	return g.peers[p].until
}

// IPRefused reports whether a new connection from ip is refused at now: ip
// was banned with a peer, that ban has not ended, ip is not a loopback
// address (every node of a local network shares 127.0.0.1 and ::1), and no
// peer that is not banned is connected from ip right now (a NAT or a shared
// host may put an honest peer behind the same address; see the package
// documentation for the trade-off).
func (g *Guard) IPRefused(ip netip.Addr, now time.Time) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() {
		return false
	}
	b, ok := g.ips[ip]
	if !ok {
		return false
	}
	if !now.Before(b.until) {
		delete(g.ips, ip)
		return false
	}
	for q, n := range g.conns[ip] {
		if n > 0 && !g.Banned(q, now) {
			return false
		}
	}
	return true
}

// Connected records a live connection of p from ip.
func (g *Guard) Connected(p peer.ID, ip netip.Addr) {
	ip = ip.Unmap()
	if !ip.IsValid() {
		return
	}
	ps := g.conns[ip]
	if ps == nil {
		ps = make(map[peer.ID]int)
		g.conns[ip] = ps
	}
	ps[p]++
}

// Disconnected records the end of a connection Connected recorded.
func (g *Guard) Disconnected(p peer.ID, ip netip.Addr) {
	ip = ip.Unmap()
	ps := g.conns[ip]
	if ps == nil {
		return
	}
	if ps[p] <= 1 {
		delete(ps, p)
	} else {
		ps[p]--
	}
	if len(ps) == 0 {
		delete(g.conns, ip)
	}
}

// Peers is how many peers the guard remembers (with strikes or bans).
func (g *Guard) Peers() int { return len(g.peers) }

// BannedIPs is how many addresses carry a ban, ended or not, that the
// guard still holds.
func (g *Guard) BannedIPs() int { return len(g.ips) }

// quiet reports whether r has had neither a violation nor a ban for Forget.
func (g *Guard) quiet(r *record, now time.Time) bool {
	since := r.last
	if r.until.After(since) {
		since = r.until
	}
	return now.Sub(since) >= g.cfg.Forget
}

// makeRoom evicts one peer when the table is full: a forgotten one if any,
// else the least recently struck one that is not banned, else the one
// whose ban ends first. One pass over at most MaxPeers entries, taken only
// when a new peer strikes (each one a connection and a violation).
func (g *Guard) makeRoom(now time.Time) {
	if len(g.peers) < g.cfg.MaxPeers {
		return
	}
	var (
		free, banned         peer.ID
		freeLast, bannedEnds time.Time
		haveFree, haveBanned bool
	)
	for p, r := range g.peers {
		switch {
		case g.quiet(r, now):
			delete(g.peers, p)
			return
		case !now.Before(r.until):
			if !haveFree || r.last.Before(freeLast) {
				free, freeLast, haveFree = p, r.last, true
			}
		default:
			if !haveBanned || r.until.Before(bannedEnds) {
				banned, bannedEnds, haveBanned = p, r.until, true
			}
		}
	}
	if haveFree {
		delete(g.peers, free)
	} else if haveBanned {
		delete(g.peers, banned)
	}
}

// banIP bans ip with p until, making room in the bounded address table:
// ended bans go first, then the one that ends first.
func (g *Guard) banIP(ip netip.Addr, p peer.ID, until, now time.Time) {
	if _, ok := g.ips[ip]; !ok && len(g.ips) >= g.cfg.MaxPeers {
		var first netip.Addr
		var ends time.Time
		for a, b := range g.ips {
			if !now.Before(b.until) {
				delete(g.ips, a)
				first = netip.Addr{}
				break
			}
			if !first.IsValid() || b.until.Before(ends) {
				first, ends = a, b.until
			}
		}
		if first.IsValid() && len(g.ips) >= g.cfg.MaxPeers {
			delete(g.ips, first)
		}
	}
	if b, ok := g.ips[ip]; ok && b.until.After(until) {
		return
	}
	g.ips[ip] = ipBan{until: until, peer: p}
}
