package wire_test

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// A salesperson reads every account and contact but changes only those it
// owns; another's answer PermissionDenied and stay as they were.
func TestSalesChangesOnlyItsOwnAccountsAndContacts(t *testing.T) {
	t.Parallel()
	s := start(t)
	sam, bob := testkit.As("sam", "sales"), testkit.As("bob", "sales")
	theirs, err := s.client.CreateAccount(bob, &accountv1.CreateAccountRequest{Account: &accountv1.Account{DisplayName: "Bob Co"}})
	if err != nil {
		t.Fatal(err)
	}
	theirContact, err := s.client.CreateContact(bob, &accountv1.CreateContactRequest{Contact: &accountv1.Contact{LastName: "Buyer", Account: theirs.Name}})
	if err != nil {
		t.Fatal(err)
	}
	// Its first contact made it the primary.
	if theirs, err = s.client.GetAccount(bob, &accountv1.GetAccountRequest{Name: theirs.Name}); err != nil {
		t.Fatal(err)
	}
	mine, err := s.client.CreateAccount(sam, &accountv1.CreateAccountRequest{Account: &accountv1.Account{DisplayName: "Sam Co"}})
	if err != nil {
		t.Fatal(err)
	}

	// Reads span owners.
	if got, err := s.client.GetAccount(sam, &accountv1.GetAccountRequest{Name: theirs.Name}); err != nil || !proto.Equal(got, theirs) {
		t.Fatalf("sales reads another's account: %v, %v", got, err)
	}
	if list, err := s.client.ListContacts(sam, &accountv1.ListContactsRequest{}); err != nil || len(list.Contacts) != 1 {
		t.Fatalf("sales lists contacts: %v, %v", list, err)
	}

	_, err = s.client.CreateAccount(sam, &accountv1.CreateAccountRequest{Account: &accountv1.Account{DisplayName: "Gift", Owner: "bob"}})
	testkit.RequireDenied(t, "sales creates an account for another owner", err)
	_, err = s.client.CreateContact(sam, &accountv1.CreateContactRequest{Contact: &accountv1.Contact{LastName: "Gift", Owner: "bob"}})
	testkit.RequireDenied(t, "sales creates a contact for another owner", err)
	_, err = s.client.UpdateAccount(sam, &accountv1.UpdateAccountRequest{
		Account: &accountv1.Account{Name: theirs.Name, Industry: "Mine"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"industry"}},
	})
	testkit.RequireDenied(t, "sales updates another's account", err)
	_, err = s.client.DeactivateAccount(sam, &accountv1.DeactivateAccountRequest{Name: theirs.Name})
	testkit.RequireDenied(t, "sales deactivates another's account", err)
	_, err = s.client.UpdateContact(sam, &accountv1.UpdateContactRequest{
		Contact: &accountv1.Contact{Name: theirContact.Name, Title: "Mine"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
	})
	testkit.RequireDenied(t, "sales updates another's contact", err)
	_, err = s.client.UpdateAccount(sam, &accountv1.UpdateAccountRequest{
		Account: &accountv1.Account{Name: mine.Name, Owner: "bob"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"owner"}},
	})
	testkit.RequireDenied(t, "sales hands its own account to another", err)

	root := testkit.As("root")
	if got, err := s.client.GetAccount(root, &accountv1.GetAccountRequest{Name: theirs.Name}); err != nil || !proto.Equal(got, theirs) {
		t.Fatalf("another's account after refused changes = %v, %v; want %v", got, err, theirs)
	}
	if got, err := s.client.GetContact(root, &accountv1.GetContactRequest{Name: theirContact.Name}); err != nil || !proto.Equal(got, theirContact) {
		t.Fatalf("another's contact after refused changes = %v, %v; want %v", got, err, theirContact)
	}
	if got, err := s.client.GetAccount(root, &accountv1.GetAccountRequest{Name: mine.Name}); err != nil || got.Owner != "sam" {
		t.Fatalf("own account after a refused hand-over = %v, %v", got, err)
	}

	// Its own a salesperson changes, and it adds contacts of its own to
	// any account; a manager changes anyone's.
	if _, err := s.client.UpdateAccount(sam, &accountv1.UpdateAccountRequest{
		Account: &accountv1.Account{Name: mine.Name, Industry: "Retail"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"industry"}},
	}); err != nil {
		t.Fatalf("sales updates its own account: %v", err)
	}
	if c, err := s.client.CreateContact(sam, &accountv1.CreateContactRequest{Contact: &accountv1.Contact{LastName: "Second", Account: theirs.Name}}); err != nil || c.Owner != "sam" {
		t.Fatalf("sales adds its contact to another's account: %v, %v", c, err)
	}
	if _, err := s.client.UpdateAccount(testkit.As("mia", "manager"), &accountv1.UpdateAccountRequest{
		Account: &accountv1.Account{Name: theirs.Name, Owner: "sam"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"owner"}},
	}); err != nil {
		t.Fatalf("manager reassigns an account: %v", err)
	}
}
