// Package provider implements the Steward Terraform provider.
package provider

import (
	"context"
	"fmt"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/stewardhq/terraform-provider-steward/internal/client"
)

var _ provider.Provider = (*stewardProvider)(nil)

// stewardProvider holds what every resource and data source shares: the
// connection defaults and the pool that keeps one SSH connection per host.
type stewardProvider struct {
	version string
	twin    hostConn // unit tests: every host is this in-process twin

	poolOnce sync.Once
	pool     *client.Pool
}

// stewardProviderModel is the provider block.
type stewardProviderModel struct {
	DefaultConnection types.Object `tfsdk:"default_connection"`
}

// providerData is handed to resources and data sources in Configure.
type providerData struct {
	twin     hostConn
	pool     *client.Pool
	defaults connectionModel
	getenv   func(string) string
	version  string
	// hardeningPlans is what this configuration planned of the hardening
	// profiles, to refuse two that disagree at plan time.
	hardeningPlans *plannedProfiles
}

// providerDataFrom is the Configure step every resource and data source
// shares: nil before the provider is configured, an error for anything else.
func providerDataFrom(v any, diags *diag.Diagnostics) *providerData {
	if v == nil {
		return nil
	}
	data, ok := v.(*providerData)
	if !ok {
		diags.AddError("Unexpected Provider Data",
			fmt.Sprintf("Expected *providerData, got %T; please report this to the provider developers.", v))
	}
	return data
}

// New returns a constructor of the provider for providerserver.Serve.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &stewardProvider{version: version} }
}

func (p *stewardProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "steward"
	resp.Version = p.version
}

func (p *stewardProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Steward deploys, backs up, monitors and hardens Linux hosts over SSH. " +
			"Terraform state is the deployment record and `terraform plan` is the drift report.",
		Blocks: map[string]schema.Block{
			"default_connection": schema.SingleNestedBlock{
				MarkdownDescription: "Connection settings merged under every resource's and data source's own `host` connection: " +
					"a field set there wins, a field left unset there is taken from here. " +
					"`use_agent` falls back to the `SSH_AUTH_SOCK` environment variable.",
				Attributes: providerConnectionAttributes(),
			},
		},
	}
}

func (p *stewardProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg stewardProviderModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	defaults, diags := connectionFromObject(ctx, cfg.DefaultConnection)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	if _, err := defaults.bastions(ctx); err.HasError() {
		resp.Diagnostics.AddAttributeError(path.Root("default_connection").AtName("bastions"), "Invalid Bastions", "The bastions list could not be read.")
		return
	}
	data := &providerData{twin: p.twin, pool: p.connectionPool(), defaults: defaults, getenv: osGetenv, version: p.version,
		hardeningPlans: &plannedProfiles{}}
	resp.DataSourceData = data
	resp.ResourceData = data
}

// connectionPool is the provider's one pool, made by the first Configure and
// reused by every later one. Terraform may configure a provider more than
// once in a process (the acceptance tests' in-process provider is configured
// for every command); a new pool each time left the old one's connections
// open. Reusing it, rather than closing it, is safe both ways: the pool keys
// connections by every hop's credentials and checks every hop's host-key
// trust for each configuration (client.Pool.Get), so one configuration never
// uses another's login or trust; and nothing still running under an earlier
// configuration has its connection closed under it.
func (p *stewardProvider) connectionPool() *client.Pool {
	p.poolOnce.Do(func() { p.pool = client.NewPool() })
	return p.pool
}

func (p *stewardProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{NewHostResource, NewBackupScheduleResource, NewCustomMetricResource, NewLogForwardResource, NewFirewallResource, NewHardeningProfileResource,
		NewAlertRuleResource, NewNotificationChannelResource, NewSilenceResource}
}

func (p *stewardProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{NewHostFactsDataSource, NewBackupsDataSource, NewMetricsDataSource, NewAlertHistoryDataSource, NewComplianceDataSource}
}
