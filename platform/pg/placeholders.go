package pg

import (
	"strconv"
	"strings"
)

// Placeholders returns the bind parameters "$from, ..., $to", for an
// INSERT or UPDATE over a list of columns.
func Placeholders(from, to int) string {
	p := make([]string, 0, max(to-from+1, 0))
	for i := from; i <= to; i++ {
		p = append(p, "$"+strconv.Itoa(i))
	}
	return strings.Join(p, ", ")
}
