package bot

import (
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// recentIDs remembers the last n envelope ids so a redelivered envelope is
// handled once. It is safe for concurrent use.
type recentIDs struct {
	mu    sync.Mutex
	order []string
	set   map[string]struct{}
	next  int
}

func newRecentIDs(n int) *recentIDs {
	return &recentIDs{order: make([]string, n), set: make(map[string]struct{}, n)}
}

// firstTime records id and reports whether it was new. An empty id is
// always new.
func (r *recentIDs) firstTime(id string) bool {
	if id == "" {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.set[id]; ok {
		return false
	}
	if old := r.order[r.next]; old != "" {
		delete(r.set, old)
	}
	r.order[r.next] = id
	r.set[id] = struct{}{}
	r.next = (r.next + 1) % len(r.order)
	return true
}

// ttlCache holds values for a fixed time, measured on clock. It is safe
// for concurrent use. It never shrinks below what was fetched in the last
// ttl, which is bounded by the workspace's users and groups.
type ttlCache[V any] struct {
	mu    sync.Mutex
	clock clockwork.Clock
	ttl   time.Duration
	items map[string]cached[V]
}

type cached[V any] struct {
	val V
	exp time.Time
}

func newTTLCache[V any](clock clockwork.Clock, ttl time.Duration) *ttlCache[V] {
	return &ttlCache[V]{clock: clock, ttl: ttl, items: map[string]cached[V]{}}
}

func (c *ttlCache[V]) get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.items[key]
	if !ok || !c.clock.Now().Before(it.exp) {
		delete(c.items, key)
		var zero V
		return zero, false
	}
	return it.val, true
}

func (c *ttlCache[V]) put(key string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items[key] = cached[V]{val: v, exp: c.clock.Now().Add(c.ttl)}
}
