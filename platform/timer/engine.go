package timer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmsuite/crm/platform/pg"
)

// Handler fires a timer. ctx carries the firing transaction, so what the
// handler writes through pg.Q(ctx, pool) commits together with the timer's
// deletion, or not at all. Setting its own timer again (a later due time)
// re-arms it rather than having it deleted. An error rolls the handler's
// work back; the timer is retried later.
//
// The record may have changed since the timer was set: a handler reads it
// in the transaction (locking it when it changes it) and decides again.
type Handler func(ctx context.Context, t Timer) error

// BatchHandler fires several due timers of its purpose at once, in the
// transaction ctx carries (fewer round trips than a Handler per timer).
// It fires all of them or fails; a failed batch is fired again one timer
// at a time, so a poison timer fails alone.
type BatchHandler func(ctx context.Context, ts []Timer) error

// Engine fires the due timers of the purposes it has handlers for. Any
// number of engines (one per replica) may run on one schema: each claims
// its own rows, with FOR UPDATE SKIP LOCKED.
type Engine struct {
	Pool   *pgxpool.Pool
	Logger *slog.Logger
	// Handlers by purpose. Due timers of other purposes are not claimed:
	// they wait for a process that handles them (a rolling deploy).
	Handlers map[string]Handler
	// BatchHandlers by purpose, for purposes without a Handler.
	BatchHandlers map[string]BatchHandler
	// BatchSize timers fired per transaction; default 500.
	BatchSize int
	// PollInterval is the longest the engine sleeps between looks for due
	// timers; default 1s. It wakes earlier at the next due time it knows
	// of, or on Kick.
	PollInterval time.Duration
	// MaxAttempts of a failing timer before it is marked failed; default 10.
	MaxAttempts int
	// Backoff before the next attempt of a failing timer, by attempt; the
	// last one repeats. Default 1s, 5s, 30s, 2m, 10m.
	Backoff []time.Duration
	// Workers fire batches concurrently, each claiming its own rows;
	// default 1. Handlers that wait on Postgres round trips fire faster
	// with a few.
	Workers int
	// Fired, if set, runs after a transaction that fired timers committed,
	// e.g. the outbox relay's Kick, so that the events handlers wrote go out
	// at once.
	Fired func()

	kickOnce sync.Once
	kick     chan struct{}
}

// Kick wakes the engine: call it after committing a timer due sooner than
// PollInterval. It never blocks.
func (e *Engine) Kick() {
	select {
	case e.kicks() <- struct{}{}:
	default:
	}
}

func (e *Engine) kicks() chan struct{} {
	e.kickOnce.Do(func() { e.kick = make(chan struct{}, 1) })
	return e.kick
}

const (
	minRetry = 50 * time.Millisecond
	maxRetry = 5 * time.Second
	// minWait between passes when timers are due but were not claimable:
	// another replica holds them and is firing them.
	minWait = 20 * time.Millisecond
)

// Run fires due timers until ctx ends, retrying with backoff while
// Postgres is unavailable.
func (e *Engine) Run(ctx context.Context) error {
	e.kicks()
	var wg sync.WaitGroup
	for range max(e.Workers, 1) {
		wg.Go(func() { e.loop(ctx) })
	}
	wg.Wait()
	return nil
}

// loop is one worker of Run.
func (e *Engine) loop(ctx context.Context) {
	batch := e.batchSize()
	poll := e.PollInterval
	if poll <= 0 {
		poll = time.Second
	}
	retry := minRetry
	for {
		claimed, _, err := e.pass(ctx, batch)
		if ctx.Err() != nil {
			return
		}
		if claimed == batch && err == nil {
			retry = minRetry
			continue // more may be due
		}
		var wait time.Duration
		if err == nil {
			wait, err = e.untilNext(ctx, poll)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			passFailuresTotal.Inc()
			e.log().WarnContext(ctx, "timer engine: will retry", "error", err, "retry_in", retry)
			wait = retry
			retry = min(retry*2, maxRetry)
		} else {
			retry = minRetry
		}
		select {
		case <-ctx.Done():
			return
		case <-e.kicks():
		case <-time.After(wait):
		}
	}
}

// FireDue fires at most limit due timers, in one transaction (one per
// timer when a handler fails), and reports how many fired. Run calls it in
// a loop; tests and benchmarks call it directly.
func (e *Engine) FireDue(ctx context.Context, limit int) (int, error) {
	_, fired, err := e.pass(ctx, limit)
	return fired, err
}

// untilNext is how long to sleep until the earliest due time, between
// minWait and poll. It asks Postgres, whose clock the claim uses.
func (e *Engine) untilNext(ctx context.Context, poll time.Duration) (time.Duration, error) {
	var secs *float64
	err := pg.InTx(ctx, e.Pool, func(ctx context.Context) error {
		b := &pgx.Batch{}
		queueInDueOrder(b, `SELECT extract(epoch FROM min(due_at) - clock_timestamp())::float8
			FROM timers WHERE failed_at IS NULL AND purpose = ANY($1)`, e.purposes()).QueryRow(func(row pgx.Row) error {
			return row.Scan(&secs)
		})
		return pg.Q(ctx, e.Pool).SendBatch(ctx, b).Close()
	})
	if err != nil || secs == nil {
		return poll, err
	}
	wait := time.Duration(*secs * float64(time.Second))
	return min(max(wait, min(minWait, poll)), poll), nil
}

// queueInDueOrder queues sql, a walk of the timers_due index in due order,
// between settings that keep Postgres to that plan. Statistics older than a
// burst of timers, or none yet, make the planner expect few due rows and
// prefer a bitmap scan of all of them and a sort: per batch, so quadratic
// in the backlog. Handlers run with the settings as they were.
func queueInDueOrder(b *pgx.Batch, sql string, args ...any) *pgx.QueuedQuery {
	b.Queue(`SET LOCAL enable_bitmapscan = off`)
	b.Queue(`SET LOCAL enable_sort = off`)
	qq := b.Queue(sql, args...)
	b.Queue(`SET LOCAL enable_bitmapscan TO DEFAULT`)
	b.Queue(`SET LOCAL enable_sort TO DEFAULT`)
	return qq
}

// handlerError is a handler's failure, which rolls its batch back.
type handlerError struct {
	t   Timer
	err error
}

func (h *handlerError) Error() string {
	return fmt.Sprintf("timer %s %s: %v", h.t.Purpose, h.t.Key, h.err)
}

// pass claims up to limit due timers and fires them in one transaction;
// when a handler fails, it rolls back and fires them one by one.
func (e *Engine) pass(ctx context.Context, limit int) (claimed, fired int, err error) {
	var batch []Timer
	err = pg.InTx(ctx, e.Pool, func(ctx context.Context) error {
		q := pg.Q(ctx, e.Pool)
		b := &pgx.Batch{}
		queueInDueOrder(b, `SELECT `+columns+` FROM timers
			WHERE due_at <= now() AND failed_at IS NULL AND purpose = ANY($1)
			ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED`, e.purposes(), limit).Query(func(rows pgx.Rows) (err error) {
			batch, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Timer, error) { return scan(r) })
			return err
		})
		if err := q.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		for _, group := range byPurpose(batch) {
			if err := e.call(ctx, group); err != nil {
				return &handlerError{group[0], err}
			}
		}
		return deleteFired(ctx, q, batch)
	})
	var he *handlerError
	switch {
	case err == nil:
		e.committed(batch)
		return len(batch), len(batch), nil
	case errors.As(err, &he) && ctx.Err() == nil:
		e.log().DebugContext(ctx, "timer batch rolled back; firing its timers one by one", "size", len(batch), "error", err)
		fired, err = e.fireEach(ctx, batch)
		return len(batch), fired, err
	default:
		return 0, 0, err
	}
}

// deleteFired deletes the fired timers that still have the version they
// were claimed with: a handler that Set its timer again keeps it.
func deleteFired(ctx context.Context, q pg.Querier, ts []Timer) error {
	if len(ts) == 0 {
		return nil
	}
	purposes, keys, versions := make([]string, len(ts)), make([]string, len(ts)), make([]int64, len(ts))
	for i, t := range ts {
		purposes[i], keys[i], versions[i] = t.Purpose, t.Key, t.version
	}
	_, err := q.Exec(ctx, `DELETE FROM timers t USING unnest($1::text[], $2::text[], $3::bigint[]) AS f(purpose, key, version)
		WHERE t.purpose = f.purpose AND t.key = f.key AND t.version = f.version`, purposes, keys, versions)
	return err
}

func (e *Engine) fireEach(ctx context.Context, batch []Timer) (int, error) {
	var fired []Timer
	defer func() { e.committed(fired) }()
	for _, t := range batch {
		ok, err := e.fireOne(ctx, t)
		if err != nil {
			return len(fired), err
		}
		if ok {
			fired = append(fired, t)
		}
	}
	return len(fired), nil
}

// errGone rolls back the transaction of a timer that was fired, changed or
// claimed elsewhere since its batch rolled back.
var errGone = errors.New("timer gone")

// fireOne fires t in a transaction of its own, if it is still due with the
// version it was claimed with. On failure it rolls the handler's work back
// to a savepoint and records the failure in the same transaction, so no
// other replica can fire t in between.
func (e *Engine) fireOne(ctx context.Context, t Timer) (bool, error) {
	var failure error
	var dead bool
	var attempt int
	var retryIn time.Duration
	err := pg.InTx(ctx, e.Pool, func(ctx context.Context) error {
		q := pg.Q(ctx, e.Pool)
		cur, err := scan(q.QueryRow(ctx, `SELECT `+columns+` FROM timers
			WHERE purpose = $1 AND key = $2 AND version = $3 AND failed_at IS NULL AND due_at <= now()
			FOR UPDATE SKIP LOCKED`, t.Purpose, t.Key, t.version))
		if errors.Is(err, pgx.ErrNoRows) {
			return errGone
		}
		if err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `SAVEPOINT timer_fire`); err != nil {
			return err
		}
		if failure = e.call(ctx, []Timer{cur}); failure == nil {
			return deleteFired(ctx, q, []Timer{cur})
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err := q.Exec(ctx, `ROLLBACK TO SAVEPOINT timer_fire`); err != nil {
			return err
		}
		attempt = cur.Attempts + 1
		dead, retryIn, err = e.recordFailure(ctx, q, cur, failure)
		return err
	})
	switch {
	case errors.Is(err, errGone):
		return false, nil
	case err != nil:
		return false, err
	case failure == nil:
		return true, nil
	}
	failuresTotal.WithLabelValues(t.Purpose).Inc()
	log := e.log().With("purpose", t.Purpose, "key", t.Key, "attempt", attempt, "error", failure)
	if dead {
		deadTotal.WithLabelValues(t.Purpose).Inc()
		log.ErrorContext(ctx, "timer failed for good; left for operators (Set it again to retry)")
	} else {
		log.WarnContext(ctx, "timer failed; will retry", "retry_in", retryIn)
	}
	return false, nil
}

// recordFailure counts a failed attempt of t (locked by the caller) and
// pushes it out by the backoff, or marks it failed after MaxAttempts.
func (e *Engine) recordFailure(ctx context.Context, q pg.Querier, t Timer, failure error) (dead bool, retryIn time.Duration, err error) {
	attempts := t.Attempts + 1
	maxAttempts := e.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = 10
	}
	dead = attempts >= maxAttempts
	backoff := e.Backoff
	if len(backoff) == 0 {
		backoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute}
	}
	retryIn = backoff[min(attempts, len(backoff))-1]
	reason := failure.Error()
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	_, err = q.Exec(ctx, `UPDATE timers SET attempts = $4, last_error = $5, updated_at = now(),
			failed_at = CASE WHEN $6 THEN now() END,
			due_at = CASE WHEN $6 THEN due_at ELSE now() + make_interval(secs => $7) END
		WHERE purpose = $1 AND key = $2 AND version = $3`,
		t.Purpose, t.Key, t.version, attempts, reason, dead, retryIn.Seconds())
	return dead, retryIn, err
}

// byPurpose splits claimed timers into runs of one purpose, in due order.
func byPurpose(ts []Timer) [][]Timer {
	var out [][]Timer
	index := map[string]int{}
	for _, t := range ts {
		i, ok := index[t.Purpose]
		if !ok {
			i = len(out)
			index[t.Purpose] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], t)
	}
	return out
}

// call runs the handler of ts (all of one purpose), turning a panic into
// its error: a panicking handler would otherwise take the process down at
// every attempt.
func (e *Engine) call(ctx context.Context, ts []Timer) (err error) {
	purpose := ts[0].Purpose
	defer func() {
		if p := recover(); p != nil {
			e.log().ErrorContext(ctx, "timer handler panicked", "purpose", purpose, "key", ts[0].Key, "timers", len(ts), "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	if h, ok := e.Handlers[purpose]; ok {
		for _, t := range ts {
			if err := h(ctx, t); err != nil {
				return err
			}
		}
		return nil
	}
	return e.BatchHandlers[purpose](ctx, ts)
}

// committed accounts for timers whose firing committed.
func (e *Engine) committed(fired []Timer) {
	if len(fired) == 0 {
		return
	}
	now := time.Now()
	for _, t := range fired {
		firedTotal.WithLabelValues(t.Purpose).Inc()
		lagSeconds.WithLabelValues(t.Purpose).Observe(now.Sub(t.DueAt).Seconds())
	}
	if e.Fired != nil {
		e.Fired()
	}
}

func (e *Engine) purposes() []string {
	ps := make([]string, 0, len(e.Handlers)+len(e.BatchHandlers))
	for p := range e.Handlers {
		ps = append(ps, p)
	}
	for p := range e.BatchHandlers {
		if _, ok := e.Handlers[p]; !ok {
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	return ps
}

func (e *Engine) batchSize() int {
	if e.BatchSize <= 0 {
		return 500
	}
	return e.BatchSize
}

func (e *Engine) log() *slog.Logger {
	if e.Logger == nil {
		return slog.Default()
	}
	return e.Logger
}
