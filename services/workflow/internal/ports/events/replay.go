package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/services/workflow/internal/app"
)

// Replay reads a stream from its first event to the last one it held when
// the replay started, in order, and projects each event that carries
// records (apply). It returns how many it applied.
func Replay(ctx context.Context, js jetstream.JetStream, stream string, apply func(ctx context.Context, ev app.Event) error) (int, error) {
	s, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		return 0, nil
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return 0, err
	}
	applied := 0
	for {
		batch, err := c.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return applied, err
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			m := inbox.MessageOf(msg)
			ev, ok, err := Decode(m)
			if err != nil {
				return applied, fmt.Errorf("%s #%d: %w", stream, m.StreamSequence, err)
			}
			if ok {
				if err := apply(ctx, ev); err != nil {
					return applied, fmt.Errorf("%s #%d: %w", stream, m.StreamSequence, err)
				}
				applied++
			}
			if m.StreamSequence >= last {
				return applied, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return applied, err
		}
		if n == 0 {
			return applied, nil // nothing more (the tail was purged)
		}
	}
}
