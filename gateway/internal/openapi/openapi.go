// Package openapi embeds the OpenAPI (Swagger 2.0) document generated from
// the protos by protoc-gen-openapiv2 (make gen).
package openapi

import _ "embed"

// JSON is the merged OpenAPI document of every service behind the gateway.
//
//go:embed crm.swagger.json
var JSON []byte
