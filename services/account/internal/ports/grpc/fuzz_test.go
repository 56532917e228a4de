package grpc

import (
	"slices"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	"github.com/google/uuid"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/services/account/internal/domain"
	"github.com/crmsuite/crm/services/account/internal/protomap"
)

var validator, _ = protovalidate.New()

// invalidOrNil fails the fuzz case unless err is nil or an InvalidArgument
// with at least one field violation.
func invalidOrNil(t *testing.T, what string, err error) bool {
	t.Helper()
	if err == nil {
		return true
	}
	ae, ok := apperr.As(err)
	if !ok || ae.Kind != apperr.KindInvalidArgument || len(ae.Violations) == 0 {
		t.Fatalf("%s: %v is not an InvalidArgument with field violations", what, err)
	}
	return false
}

// Any byte string decoded as a CreateAccountRequest is either rejected
// with field violations or becomes an account that keeps the rules.
func FuzzCreateAccountRequest(f *testing.F) {
	for _, a := range []*accountv1.Account{
		{DisplayName: "Acme", Website: "acme.example", CreditLimit: &moneypb.Money{CurrencyCode: "EUR", Units: 10}},
		{DisplayName: "A", CurrencyCode: "XYZ", CreditLimit: &moneypb.Money{CurrencyCode: "USD", Units: -1, Nanos: 5}},
		{DisplayName: "A", Addresses: []*accountv1.Address{{Type: 1, Default: true, Locality: "B", RegionCode: "DE", AddressLines: []string{"x"}}, {Type: 1, Default: true}}},
		{},
	} {
		b, _ := proto.Marshal(&accountv1.CreateAccountRequest{Account: a})
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req accountv1.CreateAccountRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		if !invalidOrNil(t, "validate", grpcx.Validate(validator, &req)) {
			return
		}
		a, _, err := domain.NewAccount(protomap.AccountFromProto(req.GetAccount()), uuid.Nil, "fuzzer", time.Now())
		if !invalidOrNil(t, "domain", err) {
			return
		}
		if a.DisplayName == "" || (a.CreditLimit != nil && a.CreditLimit.GetCurrencyCode() != a.CurrencyCode) {
			t.Fatalf("account breaks the rules: %+v", a)
		}
		defaults := map[domain.AddressType]int{}
		for _, ad := range a.Addresses {
			if ad.Default {
				defaults[ad.Type]++
			}
		}
		for typ, n := range defaults {
			if n != 1 {
				t.Fatalf("%d default %s addresses", n, typ)
			}
		}
		if back := protomap.AccountFromProto(protomap.Account(a)); back.DisplayName != a.DisplayName || !proto.Equal(back.CreditLimit, a.CreditLimit) {
			t.Fatalf("round trip changed the account: %+v -> %+v", a, back)
		}
	})
}

// Any UpdateContactRequest mask and contact, applied to a contact, is
// either rejected with field violations or leaves a contact with a name
// and at most one primary email and phone.
func FuzzUpdateContactRequest(f *testing.F) {
	for _, paths := range [][]string{{"first_name", "last_name"}, {"emails"}, {"custom_fields.x"}, {"*"}, {"nope"}, {"title.x"}, {}} {
		b, _ := proto.Marshal(&accountv1.UpdateContactRequest{
			Contact:    &accountv1.Contact{Name: "contacts/0199aaaa-0000-7000-8000-000000000000", Emails: []*accountv1.ContactEmail{{Address: "a@b.example", Primary: true}}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: paths},
		})
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req accountv1.UpdateContactRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		if !invalidOrNil(t, "validate", grpcx.Validate(validator, &req)) {
			return
		}
		mask, err := updateMask(req.GetUpdateMask(), req.GetContact(), contactOutputOnly, domain.ContactFields)
		if !invalidOrNil(t, "mask", err) {
			return
		}
		in, ok := protomap.ContactFromProto(req.GetContact())
		if !ok {
			return
		}
		c, err := domain.NewContact(domain.Contact{FirstName: "Ada"}, uuid.Nil, "owner", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Update(in, mask); !invalidOrNil(t, "update", err) {
			return
		}
		if c.FirstName == "" && c.LastName == "" {
			t.Fatal("update left a contact without a name")
		}
		for _, n := range []int{countPrimary(c.Emails, func(e domain.Email) bool { return e.Primary }), countPrimary(c.Phones, func(p domain.Phone) bool { return p.Primary })} {
			if n > 1 {
				t.Fatal("two primaries")
			}
		}
	})
}

func countPrimary[T any](xs []T, primary func(T) bool) int {
	n := 0
	for _, x := range xs {
		if primary(x) {
			n++
		}
	}
	return n
}

// Any two accounts, as CreateAccountRequests, merged with any type choice:
// the merge is refused with field violations or a failed precondition, or
// the survivor keeps the rules (one default address per type, no address
// added that it had) and the merged account is MERGED into it.
func FuzzMergeAccounts(f *testing.F) {
	addr := func(city string, def bool) *accountv1.Address {
		return &accountv1.Address{Type: 1, Default: def, Locality: city, RegionCode: "DE", AddressLines: []string{"1 Main St"}}
	}
	for _, pair := range [][2]*accountv1.Account{
		{{DisplayName: "A", CurrencyCode: "EUR", Addresses: []*accountv1.Address{addr("Berlin", true)}}, {DisplayName: "B", Addresses: []*accountv1.Address{addr(" BERLIN", true), addr("Bonn", false)}}},
		{{DisplayName: "A", Type: 1}, {DisplayName: "B", Type: 2}},
	} {
		a, _ := proto.Marshal(&accountv1.CreateAccountRequest{Account: pair[0]})
		b, _ := proto.Marshal(&accountv1.CreateAccountRequest{Account: pair[1]})
		f.Add(a, b, int32(0))
		f.Add(a, b, int32(2))
	}
	f.Fuzz(func(t *testing.T, survivorData, mergedData []byte, typ int32) {
		var accounts [2]*domain.Account
		for i, data := range [][]byte{survivorData, mergedData} {
			var req accountv1.CreateAccountRequest
			if proto.Unmarshal(data, &req) != nil || grpcx.Validate(validator, &req) != nil {
				return
			}
			a, _, err := domain.NewAccount(protomap.AccountFromProto(req.GetAccount()), uuid.Nil, "fuzzer", time.Now())
			if err != nil {
				return
			}
			accounts[i] = a
		}
		req := &accountv1.MergeAccountsRequest{Survivor: protomap.AccountName(accounts[0].ID), Merged: []string{protomap.AccountName(accounts[1].ID)},
			Type: accountv1.AccountType(typ)}
		if grpcx.Validate(validator, req) != nil {
			return
		}
		want := domain.AccountType("")
		if typ != 0 {
			want = protomap.AccountFromProto(&accountv1.Account{Type: req.GetType()}).Type
		}
		s, m := accounts[0], accounts[1]
		own := len(s.Addresses)
		_, err := s.Merge([]*domain.Account{m}, want, nil, "fuzzer", time.Now())
		if err != nil {
			if ae, ok := apperr.As(err); !ok || (ae.Kind != apperr.KindFailedPrecondition && (ae.Kind != apperr.KindInvalidArgument || len(ae.Violations) == 0)) {
				t.Fatalf("merge refused with %v", err)
			}
			return
		}
		if m.State != domain.StateMerged || m.MergedInto != s.ID || (want != "" && s.Type != want) {
			t.Fatalf("merged %+v into %+v", m, s)
		}
		defaults := map[domain.AddressType]int{}
		for i, ad := range s.Addresses {
			if ad.Default {
				defaults[ad.Type]++
			}
			// The survivor's own addresses are as it had them; what the
			// merge added is new to it.
			for _, other := range s.Addresses[max(i+1, own):] {
				if ad.Type == other.Type && ad.Locality == other.Locality && ad.RegionCode == other.RegionCode && ad.PostalCode == other.PostalCode &&
					ad.Recipient == other.Recipient && ad.AdministrativeArea == other.AdministrativeArea && slices.Equal(ad.Lines, other.Lines) {
					t.Fatalf("address twice: %+v", s.Addresses)
				}
			}
		}
		for typ, n := range defaults {
			if n != 1 {
				t.Fatalf("%d default %s addresses", n, typ)
			}
		}
	})
}
