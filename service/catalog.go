package service

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Catalog is every known service's instances, built from announcements.
// It is safe for concurrent use and starts no goroutine.
type Catalog struct {
	cfg Config

	mu       sync.Mutex
	services map[string]*Balancer
	byPeer   map[string]map[string]string // peer → instance key → service
	rejected map[string]uint64            // reason → count
	onEject  func(Instance, time.Time)
}

// NewCatalog returns an empty catalog whose balancers use cfg.
func NewCatalog(cfg Config) (*Catalog, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Catalog{cfg: cfg, services: map[string]*Balancer{}, byPeer: map[string]map[string]string{}, rejected: map[string]uint64{}}, nil
}

// OnEject sets a function called after each ejection, in any service.
func (c *Catalog) OnEject(f func(Instance, time.Time)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onEject = f
	for _, b := range c.services {
		b.OnEject(f)
	}
}

// Announce adds or refreshes an instance. The caller has checked that the
// announcing peer may publish the service.
func (c *Catalog) Announce(now time.Time, in Instance) error {
	if err := in.Validate(); err != nil {
		return err
	}
	if !in.Expires.After(now) {
		return fmt.Errorf("%w: expired at %v", ErrBadInstance, in.Expires)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.services[in.Service]
	if !ok {
		b = NewBalancer(c.cfg)
		b.OnEject(c.onEject)
		c.services[in.Service] = b
	}
	b.Upsert(now, in)
	m := c.byPeer[in.Peer]
	if m == nil {
		m = map[string]string{}
		c.byPeer[in.Peer] = m
	}
	m[in.Key()] = in.Service
	return nil
}

// Withdraw drops one instance (its node stopped announcing it).
func (c *Catalog) Withdraw(service, peer, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(service, peer+"/"+id, peer)
}

func (c *Catalog) removeLocked(service, key, peer string) {
	if b, ok := c.services[service]; ok {
		b.Remove(key)
		if b.Len() == 0 {
			delete(c.services, service)
		}
	}
	if m := c.byPeer[peer]; m != nil {
		delete(m, key)
		if len(m) == 0 {
			delete(c.byPeer, peer)
		}
	}
}

// DropPeer drops every instance of a member that failed or left, at once,
// and returns how many it dropped.
func (c *Catalog) DropPeer(peer string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.byPeer[peer]
	n := len(m)
	for key, svc := range m {
		c.removeLocked(svc, key, peer)
	}
	return n
}

// Expire drops every instance whose expiry is at or before now and
// returns them.
func (c *Catalog) Expire(now time.Time) []Instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Instance
	for svc, b := range c.services {
		for _, st := range b.Stats(now) {
			if !st.Expires.After(now) {
				out = append(out, st.Instance)
				c.removeLocked(svc, st.Key(), st.Peer)
			}
		}
	}
	return out
}

// Reject counts an announcement refused for reason.
func (c *Catalog) Reject(reason string) {
	c.mu.Lock()
	c.rejected[reason]++
	c.mu.Unlock()
}

// Rejected returns the rejection counts by reason.
func (c *Catalog) Rejected() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.rejected))
	for k, v := range c.rejected {
		out[k] = v
	}
	return out
}

// Balancer returns the service's balancer, or ErrUnknownService.
func (c *Catalog) Balancer(service string) (*Balancer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.services[service]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownService, service)
	}
	return b, nil
}

// Pick picks an instance of service for a call at now.
func (c *Catalog) Pick(now time.Time, service string, f Filter) (Instance, Done, error) {
	b, err := c.Balancer(service)
	if err != nil {
		return Instance{}, nil, err
	}
	in, done, err := b.Pick(now, f)
	if err != nil {
		return Instance{}, nil, fmt.Errorf("%w for %s", err, service)
	}
	return in, done, nil
}

// Services lists the known service names, sorted.
func (c *Catalog) Services() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.services))
	for s := range c.services {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Instances returns a service's instances at now, or ErrUnknownService.
func (c *Catalog) Instances(now time.Time, service string) ([]Stats, error) {
	b, err := c.Balancer(service)
	if err != nil {
		return nil, err
	}
	return b.Stats(now), nil
}
