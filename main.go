// Command terraform-provider-steward is the Steward Terraform provider.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"strings"

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
	quietUnlessAsked()
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

// quietUnlessAsked turns the plugin SDK's and the provider's logging off
// when no TF_LOG* variable asks for it. Both default to trace level and
// format every line for Terraform, which throws them away unless TF_LOG is
// set: at 100 hosts that was a quarter of the plan's CPU time. With any
// TF_LOG* variable set, logging is exactly as Terraform documents it.
func quietUnlessAsked() {
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TF_LOG") {
			return
		}
	}
	for _, name := range []string{"TF_LOG_SDK", "TF_LOG_PROVIDER"} {
		_ = os.Setenv(name, "off") // cannot fail for these names
	}
}
