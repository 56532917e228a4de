// Package grpcclient calls the other services the opportunity service
// depends on.
package grpcclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/opportunity/internal/app"
)

// Accounts asks the account service, each call bounded by a timeout.
type Accounts struct {
	client  accountv1.AccountServiceClient
	timeout time.Duration
}

var _ app.Accounts = (*Accounts)(nil)

// NewAccounts returns a client over conn whose calls give up after
// timeout (or the caller's earlier deadline).
func NewAccounts(conn grpc.ClientConnInterface, timeout time.Duration) *Accounts {
	return &Accounts{client: accountv1.NewAccountServiceClient(conn), timeout: timeout}
}

func (c *Accounts) AccountExists(ctx context.Context, id uuid.UUID) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	_, err := c.client.GetAccount(ctx, &accountv1.GetAccountRequest{Name: resname.Format("accounts", id)})
	return mapErr(ctx, err)
}

func (c *Accounts) ContactAccount(ctx context.Context, id uuid.UUID) (uuid.UUID, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ct, err := c.client.GetContact(ctx, &accountv1.GetContactRequest{Name: resname.Format("contacts", id)})
	if err != nil {
		return uuid.Nil, mapErr(ctx, err)
	}
	if !strings.HasPrefix(ct.GetAccount(), "accounts/") {
		return uuid.Nil, nil
	}
	account, ok := resname.Parse(ct.GetAccount(), "accounts")
	if !ok {
		return uuid.Nil, fmt.Errorf("account service: contact %s has account %q", id, ct.GetAccount())
	}
	return account, nil
}

// mapErr turns the account service's answer into this service's errors:
// its NotFound stays NotFound (the use case decides what it means),
// anything that says it could not answer is Unavailable, so the caller may
// retry.
func mapErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	st, _ := status.FromError(err)
	switch {
	case st.Code() == codes.NotFound:
		return apperr.NotFound("NOT_FOUND", "%s", st.Message())
	case st.Code() == codes.Unavailable, st.Code() == codes.DeadlineExceeded, errors.Is(ctx.Err(), context.DeadlineExceeded):
		return apperr.Unavailable("ACCOUNT_SERVICE_UNAVAILABLE", "the account service did not answer in time; try again")
	case st.Code() == codes.Canceled:
		return err
	default:
		return fmt.Errorf("account service: %w", err)
	}
}
