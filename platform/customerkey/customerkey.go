// Package customerkey normalises the values by which the same person or
// company is recognised across records and services: email addresses,
// phone numbers, person and company names, and internet domains. The lead
// service matches duplicate leads with it and the account service matches
// existing customers, so both must agree on what "the same" means.
package customerkey

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Email folds case and trims space. Plus-addressing stays: it is the
// address the person gave.
func Email(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// Phone returns the E.164 form of a phone number ("+4930123456") when its
// country is known (written with +, or region given, ISO 3166-1 alpha-2),
// and its digits otherwise, so that "030 123456" in Germany and
// "+49 30 123456" match.
func Phone(raw, region string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return ""
	}
	if num, err := phonenumbers.Parse(raw, strings.ToUpper(region)); err == nil && phonenumbers.IsPossibleNumber(num) {
		// E.164 is + country code + national significant number; cheaper
		// than phonenumbers.Format, which also handles other formats.
		return "+" + strconv.Itoa(int(num.GetCountryCode())) + phonenumbers.GetNationalSignificantNumber(num)
	}
	var b strings.Builder
	for i, r := range raw {
		if (r >= '0' && r <= '9') || (r == '+' && i == 0) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Fold lower-cases s and collapses its white space, for names.
func Fold(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// Domain returns the lower-case host of a web site given as a URL or a bare
// host name, without a leading "www."; "" if there is none.
func Domain(website string) string {
	s := strings.TrimSpace(website)
	if s == "" {
		return ""
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	return strings.TrimPrefix(host, "www.")
}

// EmailDomain returns the domain of an email address when it says which
// company the person works for: "" for public mail providers.
func EmailDomain(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return ""
	}
	d := strings.TrimSuffix(Email(email[at+1:]), ".")
	if publicMailDomains[d] {
		return ""
	}
	return d
}

// publicMailDomains are free mail providers: sharing one says nothing
// about sharing an employer.
var publicMailDomains = map[string]bool{
	"gmail.com": true, "googlemail.com": true, "outlook.com": true, "hotmail.com": true,
	"live.com": true, "msn.com": true, "yahoo.com": true, "ymail.com": true,
	"icloud.com": true, "me.com": true, "mac.com": true, "aol.com": true,
	"proton.me": true, "protonmail.com": true, "gmx.de": true, "gmx.net": true,
	"web.de": true, "t-online.de": true, "mail.com": true, "yandex.ru": true,
}
