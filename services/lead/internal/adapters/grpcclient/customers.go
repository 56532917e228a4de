// Package grpcclient calls the other services the lead service depends on.
package grpcclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/lead/internal/app"
)

// Customers asks the account service, each call bounded by Timeout.
type Customers struct {
	client  accountv1.AccountServiceClient
	timeout time.Duration
}

var _ app.Customers = (*Customers)(nil)

// NewCustomers returns a client over conn whose calls give up after
// timeout (or the caller's earlier deadline).
func NewCustomers(conn grpc.ClientConnInterface, timeout time.Duration) *Customers {
	return &Customers{client: accountv1.NewAccountServiceClient(conn), timeout: timeout}
}

func (c *Customers) Account(ctx context.Context, id uuid.UUID) (*accountv1.Account, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	a, err := c.client.GetAccount(ctx, &accountv1.GetAccountRequest{Name: resname.Format("accounts", id)})
	return a, mapErr(ctx, err)
}

func (c *Customers) Contact(ctx context.Context, id uuid.UUID) (*accountv1.Contact, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ct, err := c.client.GetContact(ctx, &accountv1.GetContactRequest{Name: resname.Format("contacts", id)})
	return ct, mapErr(ctx, err)
}

func (c *Customers) Match(ctx context.Context, q *accountv1.MatchCustomersRequest) (*accountv1.MatchCustomersResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := c.client.MatchCustomers(ctx, q)
	return res, mapErr(ctx, err)
}

// mapErr turns the account service's answer into the lead service's
// errors: its NotFound stays NotFound (the use case decides what it means),
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
