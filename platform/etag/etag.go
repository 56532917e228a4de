// Package etag turns a row version into the etag of AIP-154 and checks the
// etag a caller sends back.
package etag

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/crmsuite/crm/platform/apperr"
)

// Format returns the etag of a resource at version v.
func Format(v int64) string {
	return `W/"` + strconv.FormatInt(v, 10) + `"`
}

// Version reads the version back from an etag Format made, as consumers
// of another service's events do to order its snapshots.
func Version(tag string) (int64, error) {
	raw, ok := strings.CutPrefix(tag, `W/"`)
	raw, closed := strings.CutSuffix(raw, `"`)
	v, err := strconv.ParseInt(raw, 10, 64)
	if !ok || !closed || err != nil || v <= 0 {
		return 0, fmt.Errorf("etag %q carries no version", tag)
	}
	return v, nil
}

// Check passes when the caller sent no etag (an unconditional write) or the
// etag of version current; otherwise the write is ABORTED: someone changed
// the resource since the caller read it.
func Check(given string, current int64) error {
	if given == "" || given == Format(current) {
		return nil
	}
	return apperr.Aborted("ETAG_MISMATCH",
		"the resource was changed since it was read (etag %s, current %s): read it again and retry", given, Format(current)).
		WithMeta("current_etag", Format(current))
}
