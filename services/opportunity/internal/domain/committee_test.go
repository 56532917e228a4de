package domain

import (
	"reflect"
	"testing"

	"github.com/google/uuid"
)

func TestRepointCommitteeUnitesTheSurvivorsRoles(t *testing.T) {
	survivor, merged, merged2, other := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	ms := []CommitteeMember{
		{ContactID: merged, Roles: []string{"finance", "technical"}},
		{ContactID: other, Roles: []string{"champion"}},
		{ContactID: survivor, Roles: []string{"technical", "decision_maker"}},
		{ContactID: merged2, Roles: []string{"legal"}},
	}
	got, changed := RepointCommittee(ms, []uuid.UUID{merged, merged2}, survivor)
	want := []CommitteeMember{
		{ContactID: survivor, Roles: []string{"finance", "technical", "decision_maker", "legal"}},
		{ContactID: other, Roles: []string{"champion"}},
	}
	if !changed || !reflect.DeepEqual(got, want) {
		t.Fatalf("RepointCommittee = %v, %v; want %v", got, changed, want)
	}
	if ms[0].ContactID != merged || len(ms[0].Roles) != 2 {
		t.Fatalf("the input changed: %v", ms)
	}
	if _, changed := RepointCommittee(ms[1:2], []uuid.UUID{merged}, survivor); changed {
		t.Fatal("a committee without merged contacts changed")
	}

	many := []CommitteeMember{{ContactID: survivor, Roles: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}},
		{ContactID: merged, Roles: []string{"j", "k"}}}
	if got, _ := RepointCommittee(many, []uuid.UUID{merged}, survivor); len(got) != 1 || len(got[0].Roles) != MaxMemberRoles {
		t.Fatalf("roles over the limit: %v", got)
	}
}
