package domain

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
)

// WebForm is a website form that creates leads. Its key authenticates the
// form's submissions; only the key's SHA-256 is kept. Keys are 256 random
// bits, so a fast hash is enough: there is nothing to guess by brute force.
type WebForm struct {
	ID          uuid.UUID
	DisplayName string
	// Campaign and DefaultOwner of the leads the form creates.
	Campaign     string
	DefaultOwner string
	// DefaultRating of the leads the form creates ("" for none).
	DefaultRating Rating
	// AllowedOrigins of browsers submitting the form ("https://host[:port]",
	// lower case); empty allows any.
	AllowedOrigins []string
	RedirectURI    string
	KeyHash        []byte
	KeyPrefix      string
	CreatedAt      time.Time
	CreatedBy      string
	RevokedAt      *time.Time
	RevokedBy      string
}

// WebFormEntry is what a visitor can set through a form: a person, their
// company and a message.
type WebFormEntry struct {
	FirstName, LastName, Company, Title string
	Email, Phone, Website               string
	Address                             Address
	Message                             string
	CustomFields                        map[string]string
	Products                            []string
}

// webFormKeyTag starts every key, so that a key found in a log or a
// repository is recognisable (and scanners can look for it).
const webFormKeyTag = "wfk_"

// NewWebForm returns a new form made from in and its key, which is shown to
// the admin once and kept only as a hash. The default owner is the actor.
func NewWebForm(in WebForm, actor string, now time.Time) (*WebForm, string, error) {
	f := WebForm{
		ID:            uuid.Must(uuid.NewV7()),
		DisplayName:   strings.TrimSpace(in.DisplayName),
		Campaign:      strings.TrimSpace(in.Campaign),
		DefaultOwner:  strings.TrimSpace(in.DefaultOwner),
		DefaultRating: in.DefaultRating,
		RedirectURI:   strings.TrimSpace(in.RedirectURI),
		CreatedAt:     now,
		CreatedBy:     actor,
	}
	for _, o := range in.AllowedOrigins {
		f.AllowedOrigins = append(f.AllowedOrigins, strings.ToLower(strings.TrimSpace(o)))
	}
	if f.DisplayName == "" {
		return nil, "", apperr.InvalidField("display_name", "DISPLAY_NAME_REQUIRED", "a web form needs a display name")
	}
	if f.DefaultOwner == "" {
		f.DefaultOwner = actor
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // never fails (crypto/rand)
	key := webFormKeyTag + base64.RawURLEncoding.EncodeToString(secret)
	f.KeyHash = hashWebFormKey(key)
	f.KeyPrefix = key[:len(webFormKeyTag)+6]
	return &f, key, nil
}

func hashWebFormKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// Accepts reports whether key is the form's key and the form is not
// revoked. Comparing hashes in constant time tells nothing about how much
// of a guessed key was right.
func (f *WebForm) Accepts(key string) bool {
	match := subtle.ConstantTimeCompare(hashWebFormKey(key), f.KeyHash) == 1
	return match && f.RevokedAt == nil
}

// AllowsOrigin reports whether a browser at origin may submit the form.
// Calls without an Origin (not from a browser's script or form) pass: the
// check keeps other sites from using the key in browsers, nothing more.
func (f *WebForm) AllowsOrigin(origin string) bool {
	if origin == "" || len(f.AllowedOrigins) == 0 {
		return true
	}
	origin = strings.ToLower(origin)
	for _, o := range f.AllowedOrigins {
		if o == origin {
			return true
		}
	}
	return false
}

// Revoke revokes the key; it reports false if it already was.
func (f *WebForm) Revoke(actor string, now time.Time) bool {
	if f.RevokedAt != nil {
		return false
	}
	f.RevokedAt, f.RevokedBy = &now, actor
	return true
}

// Actor is who the form's submissions act as (created_by, event actor).
func (f *WebForm) Actor() string { return "webform:" + f.ID.String() }

// Lead is the lead an entry makes: the entry's fields, source WEB_FORM
// whatever the visitor says, the form's campaign, owner and rating, the message as
// description. The form's owner is a default (OwnerDefaulted): assignment
// rules may route the lead to someone else.
func (f *WebForm) Lead(e WebFormEntry) Lead {
	return Lead{
		FirstName: e.FirstName, LastName: e.LastName, Company: e.Company, Title: e.Title,
		Email: e.Email, Phone: e.Phone, Website: e.Website, Address: e.Address,
		Description: strings.TrimSpace(e.Message), CustomFields: e.CustomFields,
		Source: SourceWebForm, Campaign: f.Campaign, Owner: f.DefaultOwner, OwnerDefaulted: true, Status: StatusNew, Rating: f.DefaultRating,
		Products: entryProducts(e.Products),
	}
}

func entryProducts(names []string) []ProductInterest {
	var out []ProductInterest
	for _, n := range names {
		out = append(out, ProductInterest{Product: n})
	}
	return out
}

// ErrWebFormNotFound is an admin's lookup of a form that does not exist.
func ErrWebFormNotFound(id uuid.UUID) error {
	return apperr.NotFound("WEB_FORM_NOT_FOUND", "web form %s not found", id)
}
