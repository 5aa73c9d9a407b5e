// Package shim re-exports terraform-provider-random's plugin-framework provider.
//
// The upstream provider lives in an internal package. Go only lets packages rooted
// at github.com/terraform-providers/terraform-provider-random import it, so this
// module claims a path under that root (it is wired in with a replace directive in
// ../go.mod and never published).
package shim

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"
	upstream "github.com/terraform-providers/terraform-provider-random/internal/provider"
)

// NewProvider returns a fresh terraform-provider-random provider.
func NewProvider() provider.Provider { return upstream.New() }
