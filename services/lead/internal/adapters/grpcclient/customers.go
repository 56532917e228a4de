// Package grpcclient calls the other services the lead service depends on.
package grpcclient

import (
	"context"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	"github.com/crmsuite/crm/platform/grpcx"
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
	return a, grpcx.PeerError(ctx, "account", err)
}

func (c *Customers) Contact(ctx context.Context, id uuid.UUID) (*accountv1.Contact, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ct, err := c.client.GetContact(ctx, &accountv1.GetContactRequest{Name: resname.Format("contacts", id)})
	return ct, grpcx.PeerError(ctx, "account", err)
}

func (c *Customers) Match(ctx context.Context, q *accountv1.MatchCustomersRequest) (*accountv1.MatchCustomersResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := c.client.MatchCustomers(ctx, q)
	return res, grpcx.PeerError(ctx, "account", err)
}
