package check

import (
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func TestX(t *testing.T) {
	_ = krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	_ = filesys.MakeFsOnDisk()
}
