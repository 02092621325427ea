package access

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// jobKind names what a timer does when it fires.
type jobKind uint8

const (
	jobExpireGrant   jobKind = iota + 1 // revoke at expires_at
	jobWarnGrant                        // warn the holder before expiry
	jobRetryRevoke                      // retry a revoke that failed
	jobResumeGrant                      // finish a grant a restart interrupted
	jobExpireRequest                    // pending past its approval timeout
	jobRemind                           // re-notify approvers
	jobEscalate                         // bring in the backup approvers
	jobRepost                           // post an approval message that failed
	jobRefresh                          // re-render a message an update missed
)

type job struct {
	at   time.Time
	kind jobKind
	id   string
	// attempt counts the tries of a job that retries (repost, refresh).
	attempt int
}

// jobHeap orders jobs by time. Handlers re-check stored state, so a job that
// lost its purpose (a grant released early) fires as a harmless no-op.
type jobHeap []job

func (h jobHeap) Len() int           { return len(h) }
func (h jobHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h jobHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *jobHeap) Push(x any)        { *h = append(*h, x.(job)) }
func (h *jobHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	*h = old[:n-1]
	return x
}

// scheduler runs jobs at their time with one clock timer for the earliest,
// handing due jobs to a bounded pool of workers.
type scheduler struct {
	clock clockwork.Clock
	fire  func(context.Context, job)
	slots chan struct{}
	wake  chan struct{}

	mu        sync.Mutex
	jobs      jobHeap
	recoverIn time.Duration
	armed     int
}

func newScheduler(c clockwork.Clock, workers int, fire func(context.Context, job)) *scheduler {
	return &scheduler{
		clock: c,
		fire:  fire,
		slots: make(chan struct{}, workers),
		wake:  make(chan struct{}, 1),
	}
}

// add schedules a job. It is safe to call from any goroutine, before or
// during run.
func (s *scheduler) add(j job) {
	s.mu.Lock()
	heap.Push(&s.jobs, j)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *scheduler) setRecovered(d time.Duration, armed int) {
	s.mu.Lock()
	s.recoverIn, s.armed = d, armed
	s.mu.Unlock()
}

func (s *scheduler) recovered() (time.Duration, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recoverIn, s.armed
}

// due pops the jobs whose time has come and returns the time of the next,
// zero when none is left.
func (s *scheduler) due(now time.Time) ([]job, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []job
	for len(s.jobs) > 0 && !s.jobs[0].at.After(now) {
		out = append(out, heap.Pop(&s.jobs).(job))
	}
	if len(s.jobs) == 0 {
		return out, time.Time{}
	}
	return out, s.jobs[0].at
}

// run fires jobs until ctx is done, then waits for running ones.
func (s *scheduler) run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		jobs, next := s.due(s.clock.Now())
		for _, j := range jobs {
			select {
			case s.slots <- struct{}{}:
			case <-ctx.Done():
				return nil
			}
			wg.Add(1)
			go func(j job) {
				defer wg.Done()
				defer func() { <-s.slots }()
				s.fire(ctx, j)
			}(j)
		}
		if err := s.sleep(ctx, next); err != nil {
			return nil
		}
	}
}

// sleep waits until next (forever when zero), a new job, or ctx.
func (s *scheduler) sleep(ctx context.Context, next time.Time) error {
	if next.IsZero() {
		select {
		case <-s.wake:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	t := s.clock.NewTimer(next.Sub(s.clock.Now()))
	defer t.Stop()
	// The clock may have moved between reading it and arming the timer;
	// a timer armed late would wait past next.
	if !s.clock.Now().Before(next) {
		return nil
	}
	select {
	case <-t.Chan():
	case <-s.wake:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}
