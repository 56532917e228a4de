package domain

import "testing"

func TestPhonesInLocalAndInternationalFormatMatch(t *testing.T) {
	cases := []struct {
		raw, region, want string
	}{
		{"+49 30 1234567", "", "+49301234567"},
		{"030 1234567", "DE", "+49301234567"},
		{"0049 30 1234567", "DE", "+49301234567"},
		{"(030) 123-4567", "de", "+49301234567"},
		{"+1 (415) 555-0134", "", "+14155550134"},
		{"415.555.0134", "US", "+14155550134"},
		{"1-415-555-0134", "US", "+14155550134"},
		{"020 7946 0018", "GB", "+442079460018"},
		{"+44 20 7946 0018", "US", "+442079460018"},
		// Country unknown: digits, so at least the same writing matches.
		{"030 1234567", "", "0301234567"},
		{"  ", "DE", ""},
	}
	for _, c := range cases {
		if got := NormalizePhone(c.raw, c.region); got != c.want {
			t.Errorf("NormalizePhone(%q, %q) = %q, want %q", c.raw, c.region, got, c.want)
		}
	}
}

func TestEmailAndNameKeys(t *testing.T) {
	if NormalizeEmail("  Ada+CRM@Example.COM ") != "ada+crm@example.com" {
		t.Fatal("email not folded")
	}
	if NormalizeEmail("ada+crm@example.com") == NormalizeEmail("ada@example.com") {
		t.Fatal("plus-addressing must be kept")
	}
	a := CompanyAndNameKey(" Ada ", "LOVELACE", "Analytical   Engines")
	b := CompanyAndNameKey("ada", "lovelace ", "analytical engines")
	if a != b || a != "analytical engines|ada lovelace" {
		t.Fatalf("keys %q and %q", a, b)
	}
	if CompanyAndNameKey("Ada", "", "") != "" || CompanyAndNameKey("", "", "Acme") != "" {
		t.Fatal("a key needs both company and name")
	}
}

func TestDuplicateKeysUseTheAddressCountryFirst(t *testing.T) {
	l := Lead{Phone: "030 1234567", Address: Address{RegionCode: "DE"}}
	if k := l.DuplicateKeys("US"); k.Phone != "+49301234567" {
		t.Fatalf("phone key = %q", k.Phone)
	}
	l.Address.RegionCode = ""
	if k := l.DuplicateKeys("DE"); k.Phone != "+49301234567" {
		t.Fatalf("phone key with default region = %q", k.Phone)
	}
}
