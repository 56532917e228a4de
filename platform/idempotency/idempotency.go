// Package idempotency makes create and custom methods safe to retry
// (AIP-155): the first response to a request_id is stored in the same
// transaction as the effects that produced it, and replayed for every retry.
package idempotency

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/pg"
)

// Store keeps request ids in the service schema's idempotency_keys table.
type Store struct {
	Pool *pgxpool.Pool
}

// Do runs fn at most once per (requestID, method). fn runs in a
// transaction carried by its ctx, together with the record of requestID and
// its response; so either both commit or neither does. A concurrent
// duplicate waits for the first to finish and then gets its response. A
// request_id reused for a different request is an InvalidArgument. With an
// empty requestID, fn just runs.
func Do[T proto.Message](ctx context.Context, s *Store, requestID, method string, req proto.Message, fn func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	if requestID == "" {
		return fn(ctx)
	}
	hash, err := requestHash(req)
	if err != nil {
		return zero, err
	}
	var result T
	err = pg.InTx(ctx, s.Pool, func(ctx context.Context) error {
		q := pg.Q(ctx, s.Pool)
		tag, err := q.Exec(ctx, `INSERT INTO idempotency_keys (request_id, method, request_hash)
			VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, requestID, method, hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return replay(ctx, q, requestID, method, hash, &result)
		}
		result, err = fn(ctx)
		if err != nil {
			return err
		}
		body, err := proto.Marshal(result)
		if err != nil {
			return err
		}
		_, err = q.Exec(ctx, `UPDATE idempotency_keys SET response = $3 WHERE request_id = $1 AND method = $2`,
			requestID, method, body)
		return err
	})
	if err != nil {
		return zero, err
	}
	return result, nil
}

func replay[T proto.Message](ctx context.Context, q pg.Querier, requestID, method string, hash []byte, out *T) error {
	var storedHash, body []byte
	err := q.QueryRow(ctx, `SELECT request_hash, response FROM idempotency_keys WHERE request_id = $1 AND method = $2`,
		requestID, method).Scan(&storedHash, &body)
	if errors.Is(err, pgx.ErrNoRows) || body == nil {
		return apperr.Aborted("REQUEST_IN_PROGRESS", "request %s is still being processed; retry", requestID)
	}
	if err != nil {
		return err
	}
	if string(storedHash) != string(hash) {
		return apperr.InvalidField("request_id", "REQUEST_ID_REUSED",
			"request_id %s was already used for a different request", requestID)
	}
	msg := (*out).ProtoReflect().New().Interface()
	if err := proto.Unmarshal(body, msg); err != nil {
		return fmt.Errorf("idempotency: stored response: %w", err)
	}
	*out = msg.(T)
	return nil
}

func requestHash(req proto.Message) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}
