// Package paging implements opaque keyset page tokens. A token carries the
// sort key of the last row returned, is bound to the query it came from
// (filter, order, parent) and is signed, so a token from another query or a
// tampered one is an InvalidArgument instead of a wrong page.
package paging

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"

	"github.com/crmsuite/crm/platform/apperr"
)

// Page size limits shared by every List method.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Size coerces a requested page size: 0 means the default, more than the
// maximum means the maximum. Negative sizes are rejected by request
// validation before they get here.
func Size(requested int32) int {
	switch {
	case requested <= 0:
		return DefaultPageSize
	case requested > MaxPageSize:
		return MaxPageSize
	default:
		return int(requested)
	}
}

// Codec signs and checks tokens.
type Codec struct {
	key []byte
}

// NewCodec uses secret to sign tokens. Replicas of a service must share it;
// with an empty secret a random one is used, and tokens do not survive a
// restart.
func NewCodec(secret []byte) *Codec {
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	return &Codec{key: secret}
}

type envelope struct {
	Query  []byte          `json:"q"`
	Cursor json.RawMessage `json:"c"`
}

const macLen = 16

// Encode returns a token for the page after cursor (any JSON-encodable sort
// key) of the query identified by query.
func (c *Codec) Encode(query string, cursor any) (string, error) {
	raw, err := json.Marshal(cursor)
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(envelope{Query: c.fingerprint(query), Cursor: raw})
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(append(body, c.mac(body)...)), nil
}

// Decode checks token against query and fills cursor.
func (c *Codec) Decode(token, query string, cursor any) error {
	bad := apperr.InvalidField("page_token", "INVALID_PAGE_TOKEN",
		"page token is malformed, or belongs to another query (same filter and order_by required)")
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) <= macLen {
		return bad
	}
	body, sig := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	if !hmac.Equal(sig, c.mac(body)) {
		return bad
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return bad
	}
	if !hmac.Equal(env.Query, c.fingerprint(query)) {
		return bad
	}
	if err := json.Unmarshal(env.Cursor, cursor); err != nil {
		return errors.Join(bad, err)
	}
	return nil
}

func (c *Codec) mac(b []byte) []byte {
	h := hmac.New(sha256.New, c.key)
	h.Write(b)
	return h.Sum(nil)[:macLen]
}

func (c *Codec) fingerprint(query string) []byte {
	h := hmac.New(sha256.New, c.key)
	h.Write([]byte("query\x00" + query))
	return h.Sum(nil)[:8]
}
