// Package check validates the Kubernetes manifests under deploy/k8s: it
// renders every overlay and every example (k8s/examples: installations
// that leave modules out) with the kustomize API (the same code as
// `kubectl apply -k`) and asserts the production rules the deploy README
// promises. It has no non-test code; run it with
//
//	cd deploy/k8s/check && GOWORK=off go test ./...
package check
