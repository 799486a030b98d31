// Command terraform-provider-steward is the Steward Terraform provider.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/stewardhq/terraform-provider-steward/internal/provider"
)

// Generate the documentation: format the examples, then let tfplugindocs
// render docs/ from the schema, examples/ and templates/.
//go:generate terraform fmt -recursive ./examples/
//go:generate go tool tfplugindocs generate --provider-name steward

// version is set by the build (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers like delve")
	flag.Parse()

	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: "registry.terraform.io/stewardhq/steward",
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err.Error())
	}
}
