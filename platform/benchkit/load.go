package benchkit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Result is one closed-loop run: operations completed in the measured
// time and their latency percentiles.
type Result struct {
	Ops      int
	Elapsed  time.Duration
	P50, P99 time.Duration
}

// Rate is operations per second.
func (r Result) Rate() float64 { return float64(r.Ops) / r.Elapsed.Seconds() }

// LoadRun calls fn from c workers in a closed loop for warmup (not
// measured) and then d, each call with the next number of seq. Any
// failure in the measured time fails the run, naming the first.
func LoadRun(ctx context.Context, c int, warmup, d time.Duration, seq *atomic.Int64, fn func(context.Context, int64) error) (Result, error) {
	var measuring atomic.Bool
	stop := make(chan struct{})
	lat := make([][]time.Duration, c)
	var errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := range c {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				err := fn(ctx, seq.Add(1))
				if !measuring.Load() {
					continue
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	time.Sleep(warmup)
	measuring.Store(true)
	t0 := time.Now()
	time.Sleep(d)
	measuring.Store(false)
	elapsed := time.Since(t0)
	close(stop)
	wg.Wait()
	if n := errs.Load(); n > 0 {
		return Result{}, fmt.Errorf("%d errors, first: %v", n, firstErr.Load())
	}
	var all []time.Duration
	for w := range c {
		all = append(all, lat[w]...)
	}
	return Result{Ops: len(all), Elapsed: elapsed, P50: Round(Percentile(all, 50)), P99: Round(Percentile(all, 99))}, nil
}

// Round keeps reports readable: latencies to 10µs.
func Round(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
