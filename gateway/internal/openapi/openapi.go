// Package openapi embeds the OpenAPI 3.1 document of the REST API, which
// the gateway serves at /openapi.json and /openapi.yaml.
//
// `make gen` writes both files: protoc-gen-openapiv3 (grpc-gateway) turns
// the protos' google.api.http rules and comments into one document per
// proto file, openapiv3-merge joins them, and tools/cmd/openapidoc makes
// the paths concrete (/v1/leads/{lead}), adds the bearer security scheme,
// the error responses and the endpoints the gateway serves by hand, from
// handwritten.yaml beside this file. Every service with HTTP rules is in it
// without further ado. CI lints it (make openapi-lint) and checks it is
// fresh (make gen-check).
package openapi

import _ "embed"

// JSON is the document as JSON.
//
//go:embed openapi.json
var JSON []byte

// YAML is the same document as YAML.
//
//go:embed openapi.yaml
var YAML []byte
