package drill

import (
	"context"
	"net/http/httptrace"
	"sync"
	"time"
)

// lastSent remembers when the last attempt of a request was written: client-go retries a 429 or
// 503 with Retry-After by itself, so the attempt the API server acted on can be seconds after the
// first.
type lastSent struct {
	mu          sync.Mutex
	first, last time.Time
}

// trace is ctx with an httptrace hook that records when the first and the last attempt were written.
func (s *lastSent) trace(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) {
		s.mu.Lock()
		defer s.mu.Unlock()
		now := time.Now()
		if s.first.IsZero() {
			s.first = now
		}
		s.last = now
	}})
}

// retried is how long after the first attempt the last was written (0 for one attempt, or without
// an HTTP transport).
func (s *lastSent) retried() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last.Sub(s.first)
}

// actedAt moves the action's time past the retries of the first eviction (or deletion) that went
// through: the failover is timed from when the pod was evicted, not from an attempt the API server
// refused with Retry-After.
func (ru *run) actedAt(s *lastSent) {
	if ru.acted {
		return
	}
	ru.acted = true
	if d := s.retried(); d > 0 {
		ru.action = ru.action.Add(d)
		ru.r.ActionTime = ru.action
	}
}
