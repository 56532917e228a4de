// Package config reads service configuration from the environment. Every
// setting has a default that works for `make run`; secrets have none and
// may also come from a file (KEY_FILE), as Kubernetes mounts them.
package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Env reads variables and collects every problem, so a misconfigured
// service reports all of them at once.
type Env struct {
	errs []error
}

// String returns $key, or def when unset or empty.
func (e *Env) String(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

// Secret returns $key, or the trimmed content of the file named by
// ${key}_FILE, or def.
func (e *Env) Secret(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	if f := os.Getenv(key + "_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s_FILE: %w", key, err))
			return def
		}
		return strings.TrimSpace(string(b))
	}
	return def
}

// Int returns $key as an int, or def.
func (e *Env) Int(key string, def int) int {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not an integer", key, v))
		return def
	}
	return n
}

// Duration returns $key as a time.Duration ("5s", "250ms"), or def.
func (e *Env) Duration(key string, def time.Duration) time.Duration {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not a duration", key, v))
		return def
	}
	return d
}

// Bool returns $key as a bool, or def.
func (e *Env) Bool(key string, def bool) bool {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not a boolean", key, v))
		return def
	}
	return b
}

// Required records an error when value is empty.
func (e *Env) Required(key, value string) {
	if value == "" {
		e.errs = append(e.errs, fmt.Errorf("%s is required", key))
	}
}

// Err returns all problems found, or nil.
func (e *Env) Err() error {
	return errors.Join(e.errs...)
}
