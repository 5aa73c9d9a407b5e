package main

import (
	"context"
	"fmt"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/terraform-providers/terraform-provider-random/shim"
)

// Pulumi package name; the Python SDK (pulumi_random) addresses it as "random".
const pkgName = "random"

// providerInfo maps terraform-provider-random onto the tokens of the pulumi-random SDK:
// every TF resource random_<x> becomes random:index/random<X>:Random<X>
// (random_string -> random:index/randomString:RandomString).
func providerInfo(version string, bridgeMetadata []byte) tfbridge.ProviderInfo {
	prov := tfbridge.ProviderInfo{
		P:            pftfbridge.ShimProvider(shim.NewProvider()),
		Name:         "random",
		Version:      version,
		Description:  "Random values for Pulumi programs (bridged from terraform-provider-random).",
		License:      "MPL-2.0",
		MetadataInfo: tfbridge.NewProviderMetadata(bridgeMetadata),
		Resources: map[string]*tfbridge.ResourceInfo{
			// random_bytes has no "id" attribute; its ID is the generated value.
			"random_bytes": {ComputeID: idFromProperty("base64")},
		},
		EnableAccurateBridgePreview: true,
		EnableRawStateDelta:         true,
	}
	prefixed := func(module, name string) (string, error) {
		return tokens.MakeStandard(pkgName)(module, "Random"+name)
	}
	prov.MustComputeTokens(tokens.SingleModule("random_", "index", prefixed))
	return prov
}

// idFromProperty uses a string (possibly secret) output property as the resource ID.
func idFromProperty(key resource.PropertyKey) tfbridge.ComputeID {
	return func(_ context.Context, state resource.PropertyMap) (resource.ID, error) {
		v, ok := state[key]
		if !ok {
			return "", fmt.Errorf("state has no %q property to use as the ID", key)
		}
		if v.IsSecret() {
			v = v.SecretValue().Element
		}
		if !v.IsString() {
			return "", fmt.Errorf("property %q is %v, not a string", key, v.TypeString())
		}
		return resource.ID(v.StringValue()), nil
	}
}
