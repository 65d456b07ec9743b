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

// WaitFor polls cond every 100 ms until it holds (true) or ctx ends (false).
func WaitFor(ctx context.Context, cond func() bool) bool {
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
}
