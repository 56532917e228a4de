package domain

import (
	"math/big"
	"strings"
	"time"

	"github.com/google/uuid"
	moneypb "google.golang.org/genproto/googleapis/type/money"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/money"
)

// CreditResult is the outcome of a passed credit check.
type CreditResult string

const (
	CreditPassed     CreditResult = "PASSED"
	CreditNoLimit    CreditResult = "NO_LIMIT"
	CreditOverridden CreditResult = "OVERRIDDEN"
)

// CreditCheck is a passed credit check, kept on the order.
type CreditCheck struct {
	Result CreditResult
	// Limit is nil when the account has none.
	Limit          *moneypb.Money
	Exposure       *moneypb.Money
	Amount         *moneypb.Money
	OverrideReason string
	By             string
	At             time.Time
}

// CreditTerms are what the account service says about a customer.
type CreditTerms struct {
	// Limit is nil when the account has no credit limit.
	Limit        *moneypb.Money
	PaymentTerms string
	Active       bool
}

// CreditRequest is one exposure-raising step to check.
type CreditRequest struct {
	AccountID uuid.UUID
	OrderID   uuid.UUID
	Currency  string
	// Exposure is the account's exposure in Currency before the step.
	Exposure *big.Rat
	Amount   *big.Rat
	Terms    CreditTerms
	// OverrideReason, when set by a caller who may override (CanOverride),
	// accepts a step over the limit.
	OverrideReason string
	CanOverride    bool
	Actor          string
	Now            time.Time
}

// CheckCredit decides a step: within the limit (or without one) it
// passes; over it, or in a currency the limit is not in, it is
// FAILED_PRECONDITION CREDIT_LIMIT_EXCEEDED (CREDIT_CURRENCY_MISMATCH)
// with the limit, exposure and amount, unless a manager or admin overrides
// it with a reason. An inactive account takes no new exposure at all.
func CheckCredit(r CreditRequest) (CreditCheck, error) {
	reason := strings.TrimSpace(r.OverrideReason)
	after := new(big.Rat).Add(r.Exposure, r.Amount)
	c := CreditCheck{
		Limit: r.Terms.Limit, Exposure: MoneyOf(r.Currency, after), Amount: MoneyOf(r.Currency, r.Amount),
		By: r.Actor, At: r.Now,
	}
	if reason != "" && !r.CanOverride {
		return c, apperr.PermissionDenied("OVERRIDE_NOT_ALLOWED", "only managers and admins override credit checks")
	}
	if !r.Terms.Active {
		e := apperr.FailedPrecondition("ACCOUNT_INACTIVE", "account %s is inactive: it takes no new orders", r.AccountID)
		e.Preconditions = []apperr.PreconditionViolation{{Type: "ACCOUNT_INACTIVE", Subject: "accounts/" + r.AccountID.String(), Description: e.Message}}
		return c, e
	}
	var refusal *apperr.Error
	switch {
	case r.Terms.Limit == nil:
		c.Result = CreditNoLimit
		return c, nil
	case r.Terms.Limit.GetCurrencyCode() != r.Currency:
		refusal = apperr.FailedPrecondition("CREDIT_CURRENCY_MISMATCH",
			"account %s has its credit limit in %s; an order in %s cannot be checked against it (no exchange rates)",
			r.AccountID, r.Terms.Limit.GetCurrencyCode(), r.Currency)
	case r.Amount.Sign() <= 0 || after.Cmp(money.Rat(r.Terms.Limit)) <= 0:
		c.Result = CreditPassed
		return c, nil
	default:
		refusal = apperr.FailedPrecondition("CREDIT_LIMIT_EXCEEDED",
			"the order would take account %s's exposure to %s %s, over its credit limit of %s %s (this order adds %s)",
			r.AccountID, money.Decimal(c.Exposure), r.Currency, money.Decimal(r.Terms.Limit), r.Terms.Limit.GetCurrencyCode(), money.Decimal(c.Amount))
	}
	if reason != "" {
		c.Result, c.OverrideReason = CreditOverridden, reason
		return c, nil
	}
	refusal.Preconditions = []apperr.PreconditionViolation{{Type: refusal.Reason, Subject: "accounts/" + r.AccountID.String(), Description: refusal.Message}}
	return c, refusal.
		WithMeta("credit_limit", money.Decimal(r.Terms.Limit)+" "+r.Terms.Limit.GetCurrencyCode()).
		WithMeta("exposure", money.Decimal(c.Exposure)+" "+r.Currency).
		WithMeta("amount", money.Decimal(c.Amount)+" "+r.Currency).
		WithMeta("order", "orders/"+r.OrderID.String())
}
