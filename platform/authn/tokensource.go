package authn

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"
)

// ServiceRole is the role of service identities (service-to-service calls).
const ServiceRole = "service"

// ServiceSubject is the subject of service name's own tokens.
func ServiceSubject(name string) string { return "service:" + name }

// TokenSource gives a service the token its outgoing calls carry.
type TokenSource interface {
	Token() (string, error)
}

// FileTokenSource reads the token from a file (as a platform mounts it) and
// reads it again when the file changes (a cheap stat per call), so a
// rotated token is used from the next call on.
type FileTokenSource struct {
	Path string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	token   string
}

// Token returns the file's current token.
func (s *FileTokenSource) Token() (string, error) {
	fi, err := os.Stat(s.Path)
	if err != nil {
		return "", fmt.Errorf("authn: service token file: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && fi.ModTime().Equal(s.modTime) && fi.Size() == s.size {
		return s.token, nil
	}
	b, err := os.ReadFile(s.Path)
	if err != nil {
		return "", fmt.Errorf("authn: service token file: %w", err)
	}
	tok := string(bytes.TrimSpace(b))
	if tok == "" {
		return "", fmt.Errorf("authn: service token file %s is empty", s.Path)
	}
	s.token, s.modTime, s.size = tok, fi.ModTime(), fi.Size()
	return tok, nil
}

// MintingTokenSource signs its own short-lived HS256 tokens (development,
// tests, and deployments that share the HS256 secret): one is reused
// until half its lifetime is gone, then renewed.
type MintingTokenSource struct {
	Secret           []byte
	Issuer, Audience string
	Subject          string
	Roles            []string
	// TTL of each token; default 10 minutes.
	TTL time.Duration

	mu      sync.Mutex
	token   string
	renewAt time.Time
}

// NewServiceTokenSource returns a MintingTokenSource for service name:
// subject service:<name>, role service.
func NewServiceTokenSource(secret []byte, issuer, audience, name string) *MintingTokenSource {
	return &MintingTokenSource{Secret: secret, Issuer: issuer, Audience: audience,
		Subject: ServiceSubject(name), Roles: []string{ServiceRole}}
}

// Token returns a valid token, minting a new one when due.
func (s *MintingTokenSource) Token() (string, error) {
	if len(s.Secret) == 0 {
		return "", errors.New("authn: no signing secret for service tokens")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.token != "" && now.Before(s.renewAt) {
		return s.token, nil
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	tok, err := Mint(s.Secret, s.Issuer, s.Audience, s.Subject, slices.Clone(s.Roles), ttl)
	if err != nil {
		return "", fmt.Errorf("authn: mint service token: %w", err)
	}
	s.token, s.renewAt = tok, now.Add(ttl/2)
	return tok, nil
}

// DevCredentials are for tools that run services of the suite locally
// (benchmarks): the environment that puts those services in token mode
// with a fresh random HS256 secret, and the Authorization header value of
// a token for subject with roles signed with it, valid for a day.
func DevCredentials(subject string, roles ...string) (env []string, authorization string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, "", err
	}
	secret := hex.EncodeToString(b)
	tok, err := Mint([]byte(secret), "crm", "crm", subject, roles, 24*time.Hour)
	if err != nil {
		return nil, "", err
	}
	return []string{"AUTH_MODE=token", "AUTH_ALGORITHMS=HS256", "AUTH_HS256_SECRET=" + secret,
		"AUTH_ISSUER=crm", "AUTH_AUDIENCE=crm"}, "Bearer " + tok, nil
}
