// Command pulumi-resource-proxmoxve is the Pulumi resource plugin for the "proxmoxve"
// package (the pulumi_proxmoxve SDK), bridged from bpg/terraform-provider-proxmox with
// pulumi-terraform-bridge.
//
// The muxed bridge needs a Pulumi package schema and the bridge metadata computed at
// schema-generation time (it holds the SDKv2/framework dispatch table). The same binary
// therefore doubles as the schema generator: scripts/toolchain/build_plugins.sh builds
// it once, runs `BINARY tfgen schema --out DIR`, copies schema.json and
// bridge-metadata.json into ./embedded and builds again, so the plugin is one file.
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
		pftfgen.MainWithMuxer(pkgName, providerInfo(version, readEmbedded("bridge-metadata.json")))
		return
	}
	schema := readEmbedded("schema.json")
	if schema == nil {
		fmt.Fprintln(os.Stderr, "pulumi-resource-proxmoxve: built without an embedded schema; "+
			"build it with scripts/toolchain/build_plugins.sh")
		os.Exit(1)
	}
	if len(os.Args) == 2 && os.Args[1] == "--dump-schema" {
		_, _ = os.Stdout.Write(schema)
		return
	}
	pftfbridge.MainWithMuxer(context.Background(), pkgName,
		providerInfo(version, readEmbedded("bridge-metadata.json")), schema)
}
