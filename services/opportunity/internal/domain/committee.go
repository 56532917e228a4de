package domain

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
)

// CommitteeMember is a contact on an opportunity's buying committee with
// its roles in the deal: contact role ids of the account service's list.
type CommitteeMember struct {
	ContactID uuid.UUID
	Roles     []string
}

// MaxCommittee is how many contacts a buying committee may name.
const MaxCommittee = 50

// ContactRole is a role of the account service's contact role list, as
// the opportunity service checks committee roles against it.
type ContactRole struct {
	ID      string
	Retired bool
}

func normalizeCommittee(ms []CommitteeMember) []CommitteeMember {
	out := make([]CommitteeMember, len(ms))
	for i, m := range ms {
		roles := make([]string, len(m.Roles))
		for j, r := range m.Roles {
			roles[j] = strings.TrimSpace(r)
		}
		out[i] = CommitteeMember{ContactID: m.ContactID, Roles: roles}
	}
	return out
}

// checkCommittee holds for every committee: each contact once, each with
// at least one role, no role twice.
func checkCommittee(ms []CommitteeMember) apperr.Violations {
	var vs apperr.Violations
	if len(ms) > MaxCommittee {
		vs.Add(string(FieldBuyingCommittee), "COMMITTEE_TOO_LARGE", "a buying committee names at most %d contacts", MaxCommittee)
	}
	seen := map[uuid.UUID]bool{}
	for i, m := range ms {
		f := fmt.Sprintf("%s[%d]", FieldBuyingCommittee, i)
		switch {
		case m.ContactID == uuid.Nil:
			vs.Add(f+".contact", "CONTACT_REQUIRED", "a committee member is a contact")
		case seen[m.ContactID]:
			vs.Add(f+".contact", "DUPLICATE_CONTACT", "contacts/%s is on the committee twice", m.ContactID)
		}
		seen[m.ContactID] = true
		if len(m.Roles) == 0 {
			vs.Add(f+".roles", "ROLE_REQUIRED", "say what the contact's role in the deal is")
		}
		for j, r := range m.Roles {
			if slices.Contains(m.Roles[:j], r) {
				vs.Add(fmt.Sprintf("%s.roles[%d]", f, j), "DUPLICATE_ROLE", "role %q is given twice", r)
			}
		}
	}
	return vs
}

// NewCommitteeEntries returns the indexes of the members of next whose
// contact is not on prev, and for every member the roles it did not have
// on prev: what has to be checked with the account service.
func NewCommitteeEntries(prev, next []CommitteeMember) (newContacts []int, newRoles map[int][]string) {
	newRoles = map[int][]string{}
	for i, m := range next {
		j := slices.IndexFunc(prev, func(p CommitteeMember) bool { return p.ContactID == m.ContactID })
		if j < 0 {
			newContacts = append(newContacts, i)
		}
		for _, r := range m.Roles {
			if j < 0 || !slices.Contains(prev[j].Roles, r) {
				newRoles[i] = append(newRoles[i], r)
			}
		}
	}
	return newContacts, newRoles
}

// CheckCommitteeRoles refuses roles given anew (newRoles, by member
// index) that are not offered: unknown or retired.
func CheckCommitteeRoles(next []CommitteeMember, newRoles map[int][]string, offered []ContactRole) error {
	var vs apperr.Violations
	for i, m := range next {
		for j, r := range m.Roles {
			if !slices.Contains(newRoles[i], r) {
				continue
			}
			f := fmt.Sprintf("%s[%d].roles[%d]", FieldBuyingCommittee, i, j)
			k := slices.IndexFunc(offered, func(o ContactRole) bool { return o.ID == r })
			switch {
			case k < 0:
				vs.Add(f, "UNKNOWN_CONTACT_ROLE", "%q is not a contact role (see the account service's ListContactRoles)", r)
			case offered[k].Retired:
				vs.Add(f, "RETIRED_CONTACT_ROLE", "contact role %q is retired", r)
			}
		}
	}
	return vs.Err()
}

// MaxMemberRoles is how many roles a committee member may have.
const MaxMemberRoles = 10

// RepointCommittee is ms after contacts merged into survivor: the merged
// contacts are the survivor now. Where the survivor was on the committee
// already (or several merged contacts were), it stays once, where it came
// first, with every role it had under any of its records (at most
// MaxMemberRoles). changed is false when no merged contact was on it.
func RepointCommittee(ms []CommitteeMember, merged []uuid.UUID, survivor uuid.UUID) (out []CommitteeMember, changed bool) {
	at := map[uuid.UUID]int{}
	for _, m := range ms {
		id := m.ContactID
		if slices.Contains(merged, id) {
			id, changed = survivor, true
		}
		i, ok := at[id]
		if !ok {
			at[id] = len(out)
			out = append(out, CommitteeMember{ContactID: id, Roles: slices.Clone(m.Roles)})
			continue
		}
		for _, r := range m.Roles {
			if !slices.Contains(out[i].Roles, r) && len(out[i].Roles) < MaxMemberRoles {
				out[i].Roles = append(out[i].Roles, r)
			}
		}
	}
	return out, changed
}
