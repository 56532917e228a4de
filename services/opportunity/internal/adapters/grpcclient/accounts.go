// Package grpcclient calls the other services the opportunity service
// depends on.
package grpcclient

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/recordmerge"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/opportunity/internal/app"
	"github.com/crmsuite/crm/services/opportunity/internal/domain"
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
	a, err := c.client.GetAccount(ctx, &accountv1.GetAccountRequest{Name: resname.Format("accounts", id)})
	if err != nil {
		return grpcx.PeerError(ctx, "account", err)
	}
	return merged(a.GetName(), a.GetMergedInto())
}

// merged refuses a record merged into another: an opportunity pointing at
// it would never be re-pointed.
func merged(name, into string) error {
	if into == "" {
		return nil
	}
	collection, id, _ := strings.Cut(name, "/")
	from, _ := uuid.Parse(id)
	to, _ := resname.Parse(into, collection)
	return recordmerge.ErrMerged(collection, from, to)
}

func (c *Accounts) AccountOwner(ctx context.Context, id uuid.UUID) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	a, err := c.client.GetAccount(ctx, &accountv1.GetAccountRequest{Name: resname.Format("accounts", id)})
	if err != nil {
		return "", grpcx.PeerError(ctx, "account", err)
	}
	return a.GetOwner(), nil
}

func (c *Accounts) ContactAccount(ctx context.Context, id uuid.UUID) (uuid.UUID, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ct, err := c.client.GetContact(ctx, &accountv1.GetContactRequest{Name: resname.Format("contacts", id)})
	if err != nil {
		return uuid.Nil, grpcx.PeerError(ctx, "account", err)
	}
	if err := merged(ct.GetName(), ct.GetMergedInto()); err != nil {
		return uuid.Nil, err
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

func (c *Accounts) ContactRoles(ctx context.Context) ([]domain.ContactRole, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.client.ListContactRoles(ctx, &accountv1.ListContactRolesRequest{})
	if err != nil {
		return nil, grpcx.PeerError(ctx, "account", err)
	}
	out := make([]domain.ContactRole, len(resp.GetRoles()))
	for i, r := range resp.GetRoles() {
		out[i] = domain.ContactRole{ID: r.GetId(), Retired: r.GetRetired()}
	}
	return out, nil
}
