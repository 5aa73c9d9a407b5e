// Command pulumi-resource-random is the Pulumi resource plugin for the "random"
// package, bridged from terraform-provider-random with pulumi-terraform-bridge.
//
// The bridge serves a Pulumi package schema and needs bridge metadata (computed at
// schema-generation time) at run time. The same binary therefore doubles as the
// schema generator: scripts/toolchain/build_plugins.sh builds it once, runs
// `BINARY tfgen schema --out DIR`, copies schema.json and bridge-metadata.json into
// ./embedded and builds again, so the installed plugin is a single file.
package main

import (
	"context"
	"embed"
	"fmt"
	"os"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	pftfgen "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"
)

// version is the plugin version; set with -ldflags "-X main.version=X.Y.Z".
var version = "0.0.0-dev"

//go:embed embedded
var embedded embed.FS

func readEmbedded(name string) []byte {
	b, err := embedded.ReadFile("embedded/" + name)
	if err != nil {
		return nil
	}
	return b
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "tfgen" {
		os.Args = append(os.Args[:1:1], os.Args[2:]...)
		pftfgen.Main(pkgName, providerInfo(version, readEmbedded("bridge-metadata.json")))
		return
	}
	schema := readEmbedded("schema.json")
	if schema == nil {
		fmt.Fprintln(os.Stderr, "pulumi-resource-random: built without an embedded schema; "+
			"build it with scripts/toolchain/build_plugins.sh")
		os.Exit(1)
	}
	if len(os.Args) == 2 && os.Args[1] == "--dump-schema" {
		_, _ = os.Stdout.Write(schema)
		return
	}
	pftfbridge.Main(context.Background(), pkgName,
		providerInfo(version, readEmbedded("bridge-metadata.json")),
		pftfbridge.ProviderMetadata{PackageSchema: schema})
}
