package policy

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Holder holds the current policy. It is safe for concurrent use; the zero
// value holds nil until the first Swap.
type Holder struct {
	p atomic.Pointer[Policy]
}

// NewHolder returns a Holder holding p.
func NewHolder(p *Policy) *Holder {
	h := &Holder{}
	h.Swap(p)
	return h
}

// Current returns the policy in force, nil if none was set.
func (h *Holder) Current() *Policy { return h.p.Load() }

// Swap puts p in force and returns the policy it replaces.
func (h *Holder) Swap(p *Policy) *Policy { return h.p.Swap(p) }

// watchDebounce is how long the file must be quiet before it is reloaded;
// editors write a file in several steps.
const watchDebounce = 300 * time.Millisecond

// Watch reloads the policy file at path when it changes, until ctx is done.
// It watches the file's directory, so editors that replace the file and
// mounted volumes that swap a symlink are both seen. After a quiet spell it
// calls load: an error goes to onError, a policy whose Version differs from
// the last one seen goes to onChange. Both callbacks run on Watch's
// goroutine. Watch returns an error only when it cannot start watching, and
// nil once ctx is done.
func Watch(
	ctx context.Context,
	path string,
	load func() (*Policy, error),
	onChange func(*Policy),
	onError func(error),
) error {
	return watch(ctx, path, watchDebounce, load, onChange, onError)
}

func watch(
	ctx context.Context,
	path string,
	debounce time.Duration,
	load func() (*Policy, error),
	onChange func(*Policy),
	onError func(error),
) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("watch policy %s: %w", path, err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch policy %s: %w", path, err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(abs)); err != nil {
		return fmt.Errorf("watch policy %s: %w", path, err)
	}

	last := ""
	if p, err := load(); err == nil && p != nil {
		last = p.Version()
	}
	timer := time.NewTimer(debounce)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if concerns(abs, ev.Name) {
				timer.Reset(debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			onError(fmt.Errorf("watch policy %s: %w", path, err))
		case <-timer.C:
			last = reload(last, load, onChange, onError)
		}
	}
}

// concerns reports whether a change to name may change the file at path:
// the file itself, or the hidden entries a mounted volume swaps.
func concerns(path, name string) bool {
	name = filepath.Clean(name)
	return name == path || strings.HasPrefix(filepath.Base(name), "..")
}

func reload(
	last string,
	load func() (*Policy, error),
	onChange func(*Policy),
	onError func(error),
) string {
	p, err := load()
	if err != nil {
		onError(err)
		return last
	}
	if p == nil || p.Version() == last {
		return last
	}
	onChange(p)
	return p.Version()
}
