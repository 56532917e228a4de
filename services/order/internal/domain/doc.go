// Package domain holds the order service's rules: orders and their lines,
// totals and status workflow, contracts with their terms, billing schedule
// and renewals. It imports neither gRPC nor pgx.
package domain
