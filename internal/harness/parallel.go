package harness

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Parallel runs f(0..n-1) on at most workers goroutines, so tests can fill a cluster with thousands of
// objects quickly without unbounded concurrency. It returns how many calls failed and the first error.
func Parallel(n, workers int, f func(i int) error) error {
	jobs := make(chan int)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		first  error
		failed int
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					failed++
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if first != nil {
		return fmt.Errorf("%d of %d failed, first: %w", failed, n, first)
	}
	return nil
}

// Poll calls cond every interval until it holds or ctx ends. An error from cond does not stop polling;
// the last one is part of the timeout error ("waiting for WHAT: context deadline exceeded (last error: …)").
func Poll(ctx context.Context, interval time.Duration, what string, cond func() (bool, error)) error {
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// WaitFor polls cond every 100 ms until it holds (true) or ctx ends (false).
func WaitFor(ctx context.Context, cond func() bool) bool {
	return Poll(ctx, 100*time.Millisecond, "", func() (bool, error) { return cond(), nil }) == nil
}
