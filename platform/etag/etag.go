// Package etag turns a row version into the etag of AIP-154 and checks the
// etag a caller sends back.
package etag

import (
	"strconv"

	"github.com/crmsuite/crm/platform/apperr"
)

// Format returns the etag of a resource at version v.
func Format(v int64) string {
	return `W/"` + strconv.FormatInt(v, 10) + `"`
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
