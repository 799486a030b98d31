package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	tfpath "github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/client"
	"github.com/stewardhq/terraform-provider-steward/internal/cron"
)

var (
	_ resource.ResourceWithConfigure        = (*backupScheduleResource)(nil)
	_ resource.ResourceWithImportState      = (*backupScheduleResource)(nil)
	_ resource.ResourceWithModifyPlan       = (*backupScheduleResource)(nil)
	_ resource.ResourceWithConfigValidators = (*backupScheduleResource)(nil)
)

// NewBackupScheduleResource returns the steward_backup_schedule resource.
func NewBackupScheduleResource() resource.Resource { return &backupScheduleResource{} }

type backupScheduleResource struct {
	data *providerData
}

type backupScheduleModel struct {
	Host                 types.Object `tfsdk:"host"`
	Name                 types.String `tfsdk:"name"`
	Paths                types.List   `tfsdk:"paths"`
	Exclude              types.List   `tfsdk:"exclude"`
	Schedule             types.String `tfsdk:"schedule"`
	RandomDelay          types.String `tfsdk:"random_delay"`
	Destination          types.String `tfsdk:"destination"`
	DestinationShared    types.Bool   `tfsdk:"destination_shared"`
	SFTP                 types.Object `tfsdk:"sftp"`
	Recipients           types.List   `tfsdk:"recipients"`
	PassphraseFile       types.String `tfsdk:"passphrase_file"`
	FullEvery            types.Int64  `tfsdk:"full_every"`
	FullMaxAge           types.String `tfsdk:"full_max_age"`
	KeepLast             types.Int64  `tfsdk:"keep_last"`
	KeepHourly           types.Int64  `tfsdk:"keep_hourly"`
	KeepDaily            types.Int64  `tfsdk:"keep_daily"`
	KeepWeekly           types.Int64  `tfsdk:"keep_weekly"`
	KeepMonthly          types.Int64  `tfsdk:"keep_monthly"`
	KeepYearly           types.Int64  `tfsdk:"keep_yearly"`
	KeepWithin           types.String `tfsdk:"keep_within"`
	VerifyEvery          types.String `tfsdk:"verify_every"`
	Dumps                types.Map    `tfsdk:"dumps"`
	IncludeStewardConfig types.Bool   `tfsdk:"include_steward_config"`
	Pre                  types.List   `tfsdk:"pre"`
	Post                 types.List   `tfsdk:"post"`
	RunOnCreate          types.Bool   `tfsdk:"run_on_create"`
	RunOnChange          types.Bool   `tfsdk:"run_on_change"`
	StaleAfter           types.String `tfsdk:"stale_after"`

	ID             types.String `tfsdk:"id"`
	HostID         types.String `tfsdk:"host_id"`
	ConfigSHA256   types.String `tfsdk:"config_sha256"`
	LastSuccessAt  types.String `tfsdk:"last_success_at"`
	LastSnapshotID types.String `tfsdk:"last_snapshot_id"`
	SnapshotCount  types.Int64  `tfsdk:"snapshot_count"`
	LastVerifiedAt types.String `tfsdk:"last_verified_at"`
	Fresh          types.Bool   `tfsdk:"fresh"`
	NextKind       types.String `tfsdk:"next_snapshot_kind"`
	Fingerprints   types.List   `tfsdk:"recipient_fingerprints"`
}

// Validators of the backup schedule; each says what it accepts.
var (
	absolutePathValidator = stringCheck{
		desc: "an absolute path without \"..\" components, newlines or NUL bytes (e.g. \"/etc\", \"/srv/app data\")",
		check: func(s string) error {
			switch {
			case !strings.HasPrefix(s, "/"):
				return fmt.Errorf("%q is not absolute", s)
			case strings.ContainsAny(s, "\n\x00"):
				return fmt.Errorf("%q contains a newline or NUL byte", s)
			case slices.Contains(strings.Split(s, "/"), ".."):
				return fmt.Errorf("%q contains \"..\"", s)
			}
			return nil
		},
	}
	longDurationValidator = stringCheck{
		desc:  "a positive duration such as \"30m\", \"12h\", \"7d\" or \"2w\"",
		check: func(s string) error { _, err := api.ParseDuration(s); return err },
	}
	cronValidator = stringCheck{
		desc:  "a cron expression (\"m h dom mon dow\", e.g. \"30 2 * * *\") or one of @hourly, @daily, @weekly, @monthly, @yearly",
		check: func(s string) error { _, err := cron.Parse(s); return err },
	}
	recipientValidator = stringCheck{
		desc:  "an age X25519 public key (\"age1...\", from age-keygen)",
		check: func(s string) error { _, err := age.ParseX25519Recipient(s); return err },
	}
)

func (r *backupScheduleResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_backup_schedule"
}

func (r *backupScheduleResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = backupScheduleResourceSchemaV0()
}

func backupScheduleResourceSchemaV0() schema.Schema {
	optDuration := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Optional: true, MarkdownDescription: desc, Validators: []validator.String{longDurationValidator}}
	}
	keep := func(desc string) schema.Int64Attribute {
		return schema.Int64Attribute{Optional: true, MarkdownDescription: desc}
	}
	strList := func(desc string, v ...validator.String) schema.ListAttribute {
		return schema.ListAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: desc,
			Validators: []validator.List{listvalidator.ValueStringsAre(v...)}}
	}
	return schema.Schema{
		MarkdownDescription: "A backup schedule run by the Steward agent on a host: streamed tar → zstd → age snapshots, " +
			"full and incremental, verified after every run and restore-drilled every `verify_every`, with restic-style retention " +
			"that never deletes the newest verified snapshot or a snapshot a kept one depends on. The host encrypts to `recipients` " +
			"(public keys), so it can write backups it cannot read.",
		Attributes: map[string]schema.Attribute{
			// Required.
			"host": schema.SingleNestedAttribute{Required: true, Attributes: resourceConnectionAttributes(false),
				MarkdownDescription: "The host, usually `steward_host.<name>.host_connection`. The agent must be deployed there."},
			"name": schema.StringAttribute{Required: true,
				MarkdownDescription: "Schedule name: lower-case letters, digits, `_` and `-`. Snapshots live under `<destination>/<name>/`.",
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators: []validator.String{stringvalidator.RegexMatches(api.ScheduleNamePattern,
					"must be 1-63 lower-case letters, digits, '_' or '-', starting with a letter or digit")}},
			"paths": schema.ListAttribute{Required: true, ElementType: types.StringType,
				MarkdownDescription: "Absolute paths to back up. A path that does not exist on the host fails the apply naming it, and so does one " +
					"with a symlink among its directories (give the path it points to): the agent never follows a symlink there, nor anywhere " +
					"in the tree it backs up. A symlink as the last component is backed up as a symlink.",
				Validators: []validator.List{listvalidator.SizeAtLeast(1), listvalidator.ValueStringsAre(absolutePathValidator)}},
			"schedule": schema.StringAttribute{Required: true, Validators: []validator.String{cronValidator},
				MarkdownDescription: "When to run, in the host's time zone: a 5-field cron expression or `@daily`-style. " +
					"After downtime one catch-up run happens; runs of one schedule never overlap."},
			"destination": schema.StringAttribute{Optional: true, Validators: []validator.String{absolutePathValidator},
				MarkdownDescription: "Directory on the host (may be an NFS mount) that receives the snapshots. Set this or `sftp`. " +
					"Every directory from `/` down to it must be one only root can change, unless `destination_shared` is set; " +
					"a symlink on the way is refused either way (give the path it points to)."},
			"destination_shared": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				MarkdownDescription: "Accept a `destination` that users other than root own or may write: a shared directory, an NFS export " +
					"with root squashed. Without it such a destination is refused at apply and at every run, naming the directory, its owner " +
					"and mode: every directory from `/` down to the destination (and the schedule's directory in it) must be owned by root " +
					"and writable by neither its group nor others; only a directory above the destination may be world-writable, and then " +
					"only with the sticky bit, like `/tmp`. **The risk:** whoever can write the destination can delete or replace snapshots " +
					"(restore detects a replaced one by its authenticated index, but cannot bring it back) and fill its file system. " +
					"They still cannot make the agent follow a symlink, in the destination or on the way to it. Defaults to `false`; " +
					"has no effect with `sftp`."},
			"sftp": schema.SingleNestedAttribute{Optional: true,
				MarkdownDescription: "Send the snapshots to another machine over SFTP instead, with that machine's host key pinned. Set this or `destination`.",
				Attributes: map[string]schema.Attribute{
					"host": schema.StringAttribute{Required: true, MarkdownDescription: "Address of the SFTP server, as the backed-up host reaches it."},
					"port": schema.Int64Attribute{Optional: true, MarkdownDescription: "SSH port. Defaults to `22`.",
						Validators: []validator.Int64{int64validator.Between(1, 65535)}},
					"user": schema.StringAttribute{Required: true, MarkdownDescription: "Login on the SFTP server."},
					"private_key_file": schema.StringAttribute{Required: true, Validators: []validator.String{absolutePathValidator},
						MarkdownDescription: "Private key file **on the backed-up host** (root-only) that logs in to the SFTP server."},
					"host_key": schema.StringAttribute{Required: true, Validators: []validator.String{hostKeyValidator},
						MarkdownDescription: "The SFTP server's public host key (`ssh-ed25519 AAAA...`); any other key is refused."},
					"path": schema.StringAttribute{Required: true, Validators: []validator.String{absolutePathValidator},
						MarkdownDescription: "Directory on the SFTP server that receives the snapshots."},
				}},
			"recipients": schema.ListAttribute{Required: true, ElementType: types.StringType,
				MarkdownDescription: "age X25519 public keys the snapshots are encrypted to. Keep the identities (private keys) off the host.",
				Validators:          []validator.List{listvalidator.SizeAtLeast(1), listvalidator.ValueStringsAre(recipientValidator)}},
			// Optional.
			"exclude":      strList("Glob patterns (matched against the full path and the base name) to leave out."),
			"random_delay": optDuration("Random delay added to each scheduled run, to spread load."),
			"passphrase_file": schema.StringAttribute{Optional: true, Validators: []validator.String{absolutePathValidator},
				MarkdownDescription: "A file on the host holding a passphrase the snapshots are also encrypted to, for hosts that must restore themselves."},
			"full_every": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(7),
				MarkdownDescription: "A full snapshot every this many runs; the runs between are incremental. Defaults to `7`."},
			"full_max_age": optDuration("Also take a full snapshot when the last one is older than this."),
			"keep_last":    keep("Keep the N newest snapshots."),
			"keep_hourly":  keep("Keep the newest snapshot of each of the N most recent hours that have one."),
			"keep_daily":   keep("Keep the newest snapshot of each of the N most recent days that have one."),
			"keep_weekly":  keep("Keep the newest snapshot of each of the N most recent ISO weeks that have one."),
			"keep_monthly": keep("Keep the newest snapshot of each of the N most recent months that have one."),
			"keep_yearly":  keep("Keep the newest snapshot of each of the N most recent years that have one."),
			"keep_within":  optDuration("Keep every snapshot younger than this, measured from the newest snapshot (restic's semantics)."),
			"verify_every": optDuration("How often to run a restore drill that compares every file with the manifest (needs an identity on the host; see the docs)."),
			"dumps": schema.MapAttribute{Optional: true, ElementType: types.ListType{ElemType: types.StringType},
				MarkdownDescription: "Commands (argument lists, no shell) whose stdout is stored in the snapshot as `dumps/<key>`, e.g. " +
					"`{ postgres = [\"pg_dumpall\"] }`. A failing command fails the run."},
			"include_steward_config": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(true),
				MarkdownDescription: "Also back up `/etc/steward` (the host's Steward configuration). Defaults to `true`."},
			"pre":  strList("Shell commands run before each backup; one that fails fails the run."),
			"post": strList("Shell commands run after each backup."),
			"run_on_create": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				MarkdownDescription: "Run one backup during the apply that creates the schedule, and fail the apply if it fails."},
			"run_on_change": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				MarkdownDescription: "Run one backup during every apply that changes the schedule, and fail the apply if it fails. " +
					"After a change of `recipients` that run is the full snapshot to the new keys, so the key rotation is complete when the apply ends."},
			"stale_after": schema.StringAttribute{Optional: true, Validators: []validator.String{longDurationValidator},
				MarkdownDescription: "When the last successful backup is older than this, `fresh` turns false and `terraform plan` shows it; the apply runs a backup."},
			// Computed.
			"id":      schema.StringAttribute{Computed: true, MarkdownDescription: "`<host_id>/<name>`.", PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"host_id": schema.StringAttribute{Computed: true, MarkdownDescription: "The host's `/etc/machine-id`.", PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"config_sha256": schema.StringAttribute{Computed: true,
				MarkdownDescription: "SHA-256 of `/etc/steward/backups/<name>.json` on the host; an edit by hand shows as drift."},
			"last_success_at":  schema.StringAttribute{Computed: true, MarkdownDescription: "When the last backup succeeded (RFC 3339), empty if never."},
			"last_snapshot_id": schema.StringAttribute{Computed: true, MarkdownDescription: "ID of the newest snapshot."},
			"snapshot_count":   schema.Int64Attribute{Computed: true, MarkdownDescription: "Snapshots in the catalog."},
			"last_verified_at": schema.StringAttribute{Computed: true, MarkdownDescription: "When a snapshot was last verified (RFC 3339)."},
			"fresh": schema.BoolAttribute{Computed: true,
				MarkdownDescription: "Whether the last successful backup's snapshot is still at the destination and, with `stale_after`, " +
					"younger than that. When it is not, `terraform plan` shows it and the apply runs a backup."},
			"next_snapshot_kind": schema.StringAttribute{Computed: true,
				MarkdownDescription: "`full` or `incremental`: what the next run takes. A plan that changes `recipients` (or the destination, " +
					"or adds or removes `passphrase_file`) shows `full`: a snapshot never continues a chain encrypted to other keys."},
			"recipient_fingerprints": schema.ListAttribute{Computed: true, ElementType: types.StringType,
				MarkdownDescription: "Fingerprints (`SHA256:...`) of `recipients`, sorted, as `steward_backups` lists them for every snapshot: " +
					"a snapshot none of whose fingerprints is here needs a key the schedule no longer uses."},
		},
	}
}

func (r *backupScheduleResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// ModifyPlan plans config_sha256 and fresh at their desired values, so an
// edited schedule file or a stale backup shows in `terraform plan`, and
// says what a change of recipients does to the next snapshot.
func (r *backupScheduleResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	var plan, state backupScheduleModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() || !plan.known() {
		return // unknown values: the digest is computed at apply
	}
	cfg, diags := plan.toAPI(ctx)
	if diags.HasError() {
		return
	}
	plan.Fingerprints = fingerprintList(cfg.Recipients, &resp.Diagnostics)
	if req.State.Raw.IsNull() {
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		return
	}
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	sum := sha256.Sum256(cfg.Render())
	plan.ConfigSHA256 = types.StringValue(hex.EncodeToString(sum[:]))
	plan.Fresh = types.BoolValue(true)
	runs := plan.runsOnApply(state)
	switch {
	case plan.ConfigSHA256.Equal(state.ConfigSHA256) && !runs:
		// Nothing to run: the status stays as it is.
		plan.LastSuccessAt, plan.LastSnapshotID, plan.SnapshotCount, plan.LastVerifiedAt, plan.NextKind =
			state.LastSuccessAt, state.LastSnapshotID, state.SnapshotCount, state.LastVerifiedAt, state.NextKind
	case runs:
		// The apply takes a backup: what it changes is known only after it.
		plan.LastSuccessAt, plan.LastSnapshotID, plan.LastVerifiedAt, plan.NextKind =
			types.StringUnknown(), types.StringUnknown(), types.StringUnknown(), types.StringUnknown()
		plan.SnapshotCount = types.Int64Unknown()
	case startsNewChain(state, plan):
		plan.NextKind = types.StringValue(api.SnapshotFull)
	}
	if !plan.Fingerprints.Equal(state.Fingerprints) && !state.Fingerprints.IsNull() {
		resp.Diagnostics.Append(rotationWarning(cfg.Name, state.Fingerprints, plan.Fingerprints, runs))
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

// runsOnApply says whether applying plan over state takes a backup: a stale
// one is brought up to date, and run_on_change runs after any change.
func (m backupScheduleModel) runsOnApply(state backupScheduleModel) bool {
	stale := !state.Fresh.IsNull() && !state.Fresh.ValueBool()
	return stale || (m.RunOnChange.ValueBool() && !m.ConfigSHA256.Equal(state.ConfigSHA256))
}

// startsNewChain says whether the next snapshot cannot continue the chain
// of the snapshots so far: other keys, or another destination.
func startsNewChain(state, plan backupScheduleModel) bool {
	return !plan.Fingerprints.Equal(state.Fingerprints) || plan.PassphraseFile.IsNull() != state.PassphraseFile.IsNull() ||
		!plan.Destination.Equal(state.Destination) || !plan.SFTP.Equal(state.SFTP)
}

// rotationWarning tells what a change of recipients means for restores.
func rotationWarning(name string, before, after types.List, runs bool) diag.Diagnostic {
	when := "It is taken at the next scheduled run; set `run_on_change = true` to take it during the apply."
	if runs {
		when = "This apply takes it."
	}
	return diag.NewAttributeWarningDiagnostic(tfpath.Root("recipients"), "Backup Keys Change",
		fmt.Sprintf("The recipients of backup schedule %q change from %s to %s. The next snapshot is full, encrypted to the new "+
			"recipients only, and never continues the old chain. %s Snapshots made before it stay readable only with the keys they were "+
			"encrypted to: keep the old identities until steward_backups lists a verified full snapshot with the new recipient_fingerprints "+
			"and retention has let the older snapshots go.", name, fingerprintText(before), fingerprintText(after), when))
}

func fingerprintText(l types.List) string {
	var out []string
	for _, v := range l.Elements() {
		if s, ok := v.(types.String); ok {
			out = append(out, s.ValueString())
		}
	}
	return "[" + strings.Join(out, ", ") + "]"
}

// fingerprintList is the sorted set of the recipients' fingerprints.
func fingerprintList(recipients []string, diags *diag.Diagnostics) types.List {
	fps := make([]string, 0, len(recipients))
	for _, r := range recipients {
		fps = append(fps, api.RecipientFingerprint(r))
	}
	slices.Sort(fps)
	l, d := types.ListValueFrom(context.Background(), types.StringType, slices.Compact(fps))
	diags.Append(d...)
	return l
}

func (r *backupScheduleResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan backupScheduleModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(r.apply(ctx, &plan, plan.RunOnCreate.ValueBool())...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *backupScheduleResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state backupScheduleModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(r.apply(ctx, &plan, plan.runsOnApply(state))...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// apply writes the schedule to the host, optionally runs it once, and reads
// the status back into m.
func (r *backupScheduleResource) apply(ctx context.Context, m *backupScheduleModel, runNow bool) diag.Diagnostics {
	cfg, diags := m.toAPI(ctx)
	if diags.HasError() {
		return diags
	}
	conn, hostID, d := r.connect(ctx, m)
	diags.Append(d...)
	if diags.HasError() {
		return diags
	}
	op := conn.Operator(localUser())
	st, err := client.Call(ctx, conn, api.BackupKind.Configure(), op, cfg)
	var ae *api.Error
	switch {
	case errors.As(err, &ae) && ae.Code == api.CodePathMissing:
		diags.AddAttributeError(tfpath.Root("paths"), "Backup Path Missing", fmt.Sprintf("On %s: %s.", conn.Address(), ae.Message))
		return diags
	case errors.As(err, &ae) && ae.Code == api.CodePathSymlink:
		diags.AddAttributeError(tfpath.Root("paths"), "Backup Path Through a Symlink", fmt.Sprintf("On %s: %s.", conn.Address(), ae.Message))
		return diags
	case errors.As(err, &ae) && ae.Code == api.CodeDestinationUnsafe:
		diags.AddAttributeError(tfpath.Root("destination"), "Unsafe Backup Destination", fmt.Sprintf("On %s: %s.", conn.Address(), ae.Message))
		return diags
	case err != nil:
		diags.Append(agentDiagnostic("Unable to Configure Backup", conn, err))
		return diags
	}
	if runNow {
		if _, err := client.Call(ctx, conn, api.BackupRun, op, api.ObjectName{Name: cfg.Name}); err != nil {
			diags.AddError("Backup Failed", fmt.Sprintf("The backup %q on %s failed: %v", cfg.Name, conn.Address(), err))
			return diags
		}
		// The run changed the catalog: read the status again.
		if st, err = client.Call(ctx, conn, api.BackupKind.Status(), op, api.ObjectName{Name: cfg.Name}); err != nil {
			diags.Append(agentDiagnostic("Unable to Read Backup Status", conn, err))
			return diags
		}
	}
	m.ID = types.StringValue(hostID + "/" + cfg.Name)
	m.HostID = types.StringValue(hostID)
	m.setStatus(st, time.Now())
	return diags
}

func (r *backupScheduleResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state backupScheduleModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// One round trip: the status carries the host's identity too, checked
	// with checkIdentity.
	conn, expectedID, diags := r.data.connect(ctx, tfpath.Root("host"), state.Host)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	st, err := client.Call(ctx, conn, api.BackupKind.Status(), conn.Operator(localUser()), api.ObjectName{Name: state.Name.ValueString()})
	if why := agentUnusable(err); why != "" {
		// The host's agent cannot answer now; steward_host redeploys it in
		// the same apply, and this schedule is written again after it.
		resp.Diagnostics.AddWarning("Backup Schedule Will Be Written Again",
			fmt.Sprintf("The Steward agent on %s %s, so the schedule %q cannot be read; the plan writes it again. "+
				"Apply its steward_host in the same run (one plain terraform apply does both, the host first).\n\n%v",
				conn.Address(), why, state.Name.ValueString(), err))
		state.ConfigSHA256 = types.StringValue("")
		resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
		return
	}
	if err != nil {
		resp.Diagnostics.Append(agentDiagnostic("Unable to Read Backup Status", conn, err))
		return
	}
	if resp.Diagnostics.Append(checkIdentity(conn, expectedID, &state, st.HostID)...); resp.Diagnostics.HasError() {
		return
	}
	state.ID = types.StringValue(st.HostID + "/" + state.Name.ValueString())
	state.HostID = types.StringValue(st.HostID)
	if !st.Present {
		resp.State.RemoveResource(ctx) // deleted on the host: plan to create it again
		return
	}
	if st.Spec != nil { // else the file does not parse: its digest differs, and the plan writes it again
		resp.Diagnostics.Append(state.fromAPI(ctx, *st.Spec)...)
	}
	state.setStatus(st, time.Now())
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *backupScheduleResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state backupScheduleModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	conn, _, diags := r.connect(ctx, &state)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	if _, err := client.Call(ctx, conn, api.BackupKind.Remove(), conn.Operator(localUser()), api.ObjectName{Name: state.Name.ValueString()}); err != nil {
		resp.Diagnostics.Append(agentDiagnostic("Unable to Remove Backup Schedule", conn, err))
	}
}

// ImportState takes "[user@]host[:port]/<name>": the host attribute is not
// known at import, so the ID names it too.
func (r *backupScheduleResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	target, name, ok := strings.Cut(req.ID, "/")
	if !ok || !api.ScheduleNamePattern.MatchString(name) {
		resp.Diagnostics.AddError("Invalid Import ID", fmt.Sprintf("Expected \"[user@]host[:port]/<schedule name>\", e.g. \"deploy@10.0.0.5/etc\", got %q.", req.ID))
		return
	}
	hostObj, diags := importHostObject(target)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, tfpath.Root("host"), hostObj)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, tfpath.Root("name"), name)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, tfpath.Root("run_on_create"), false)...)
}

// checkIdentity fails when the host answered as another machine than the
// connection's host_id (expectedID) or the one in state.
func checkIdentity(conn *client.Conn, expectedID string, m *backupScheduleModel, got string) diag.Diagnostics {
	var diags diag.Diagnostics
	for _, want := range []string{expectedID, m.HostID.ValueString()} {
		if want != "" && want != got {
			diags.Append(hostIDMismatch(tfpath.Root("host"), conn.Address(), want, got))
			return diags
		}
	}
	return diags
}

// connect reaches the host and proves its identity before a change.
func (r *backupScheduleResource) connect(ctx context.Context, m *backupScheduleModel) (*client.Conn, string, diag.Diagnostics) {
	conn, expectedID, diags := r.data.connect(ctx, tfpath.Root("host"), m.Host)
	if diags.HasError() {
		return nil, "", diags
	}
	facts, err := conn.Facts(ctx)
	if err != nil {
		diags.Append(connectionDiagnostic(tfpath.Root("host"), err))
		return nil, "", diags
	}
	diags.Append(checkIdentity(conn, expectedID, m, facts.HostID)...)
	return conn, facts.HostID, diags
}

// agentDiagnostic maps an agent error to a diagnostic by its kind and
// api.Error code, never by its text.
func agentDiagnostic(summary string, conn *client.Conn, err error) diag.Diagnostic {
	detail := err.Error()
	if why := agentUnusable(err); why != "" {
		detail += "\n\nThe Steward agent on " + conn.Address() + " " + why + ": create or apply its steward_host first."
	}
	return diag.NewErrorDiagnostic(summary, detail)
}

// agentUnusable says why the agent cannot answer a request (missing,
// broken, too old), or "" when err is not about the agent itself.
func agentUnusable(err error) string {
	var ae *api.Error
	var ua *client.AgentUnavailableError
	switch {
	case errors.As(err, &ua) && ua.Missing():
		return "is not installed"
	case errors.As(err, &ua):
		return "does not answer (replaced or broken)"
	case errors.As(err, &ae) && (ae.Code == api.CodeUnknownMethod || ae.Code == api.CodeProtocolMismatch):
		return "is older than this provider"
	}
	return ""
}

type sftpModel struct {
	Host           types.String `tfsdk:"host"`
	Port           types.Int64  `tfsdk:"port"`
	User           types.String `tfsdk:"user"`
	PrivateKeyFile types.String `tfsdk:"private_key_file"`
	HostKey        types.String `tfsdk:"host_key"`
	Path           types.String `tfsdk:"path"`
}

var sftpAttrTypes = map[string]attr.Type{"host": types.StringType, "port": types.Int64Type, "user": types.StringType,
	"private_key_file": types.StringType, "host_key": types.StringType, "path": types.StringType}

// ConfigValidators requires exactly one destination.
func (r *backupScheduleResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{resourcevalidator.ExactlyOneOf(tfpath.MatchRoot("destination"), tfpath.MatchRoot("sftp"))}
}

func (m backupScheduleModel) known() bool {
	for _, v := range []attr.Value{m.Paths, m.Exclude, m.Schedule, m.Destination, m.DestinationShared, m.SFTP, m.Recipients, m.Dumps, m.Pre, m.Post,
		m.FullEvery, m.KeepWithin, m.RandomDelay, m.PassphraseFile, m.FullMaxAge, m.VerifyEvery, m.IncludeStewardConfig} {
		if v.IsUnknown() {
			return false
		}
	}
	return true
}

func intOf(v types.Int64) int { return int(v.ValueInt64()) }

// toAPI renders the configuration the agent stores.
func (m backupScheduleModel) toAPI(ctx context.Context) (api.BackupSchedule, diag.Diagnostics) {
	var diags diag.Diagnostics
	cfg := api.BackupSchedule{
		Name:                 m.Name.ValueString(),
		Paths:                stringList(ctx, m.Paths, &diags),
		Exclude:              stringList(ctx, m.Exclude, &diags),
		Schedule:             m.Schedule.ValueString(),
		RandomDelay:          m.RandomDelay.ValueString(),
		Destination:          api.BackupDestination{Path: m.Destination.ValueString(), Shared: m.DestinationShared.ValueBool()},
		Recipients:           stringList(ctx, m.Recipients, &diags),
		PassphraseFile:       m.PassphraseFile.ValueString(),
		FullEvery:            intOf(m.FullEvery),
		FullMaxAge:           m.FullMaxAge.ValueString(),
		VerifyEvery:          m.VerifyEvery.ValueString(),
		IncludeStewardConfig: m.IncludeStewardConfig.ValueBool(),
		Pre:                  stringList(ctx, m.Pre, &diags),
		Post:                 stringList(ctx, m.Post, &diags),
		Retention: api.BackupRetention{
			KeepLast: intOf(m.KeepLast), KeepHourly: intOf(m.KeepHourly), KeepDaily: intOf(m.KeepDaily),
			KeepWeekly: intOf(m.KeepWeekly), KeepMonthly: intOf(m.KeepMonthly), KeepYearly: intOf(m.KeepYearly),
			KeepWithin: m.KeepWithin.ValueString(),
		},
	}
	if !m.SFTP.IsNull() && !m.SFTP.IsUnknown() {
		var sm sftpModel
		diags.Append(m.SFTP.As(ctx, &sm, basetypes.ObjectAsOptions{})...)
		cfg.Destination.SFTP = &api.BackupSFTP{Host: sm.Host.ValueString(), Port: int(sm.Port.ValueInt64()), User: sm.User.ValueString(),
			PrivateKeyFile: sm.PrivateKeyFile.ValueString(), HostKey: sm.HostKey.ValueString(), Path: sm.Path.ValueString()}
	}
	if !m.Dumps.IsNull() && !m.Dumps.IsUnknown() {
		dumps := map[string][]string{}
		diags.Append(m.Dumps.ElementsAs(ctx, &dumps, false)...)
		for _, name := range slices.Sorted(maps.Keys(dumps)) {
			cfg.Dumps = append(cfg.Dumps, api.BackupDump{Name: name, Command: dumps[name]})
		}
	}
	return cfg, diags
}

// fromAPI copies the configuration the host has into m, keeping null what
// the host has empty and the configuration left unset.
func (m *backupScheduleModel) fromAPI(ctx context.Context, c api.BackupSchedule) diag.Diagnostics {
	var diags diag.Diagnostics
	list := func(cur types.List, v []string) types.List {
		if len(v) == 0 && cur.IsNull() {
			return cur
		}
		l, d := types.ListValueFrom(ctx, types.StringType, v)
		diags.Append(d...)
		return l
	}
	str := func(cur types.String, v string) types.String {
		if v == "" && cur.IsNull() {
			return cur
		}
		return types.StringValue(v)
	}
	num := func(cur types.Int64, v int) types.Int64 {
		if v == 0 && cur.IsNull() {
			return cur
		}
		return types.Int64Value(int64(v))
	}
	m.Name = types.StringValue(c.Name)
	m.Paths = list(m.Paths, c.Paths)
	m.Exclude = list(m.Exclude, c.Exclude)
	m.Schedule = types.StringValue(c.Schedule)
	m.RandomDelay = str(m.RandomDelay, c.RandomDelay)
	m.Destination = str(m.Destination, c.Destination.Path)
	m.DestinationShared = types.BoolValue(c.Destination.Shared)
	if s := c.Destination.SFTP; s != nil {
		port := types.Int64Null()
		if s.Port != 0 {
			port = types.Int64Value(int64(s.Port))
		}
		obj, d := types.ObjectValueFrom(ctx, sftpAttrTypes, sftpModel{Host: types.StringValue(s.Host), Port: port, User: types.StringValue(s.User),
			PrivateKeyFile: types.StringValue(s.PrivateKeyFile), HostKey: types.StringValue(s.HostKey), Path: types.StringValue(s.Path)})
		diags.Append(d...)
		m.SFTP = obj
	} else {
		m.SFTP = types.ObjectNull(sftpAttrTypes)
	}
	m.Recipients = list(m.Recipients, c.Recipients)
	m.PassphraseFile = str(m.PassphraseFile, c.PassphraseFile)
	m.FullEvery = types.Int64Value(int64(c.FullEvery))
	m.FullMaxAge = str(m.FullMaxAge, c.FullMaxAge)
	m.VerifyEvery = str(m.VerifyEvery, c.VerifyEvery)
	m.IncludeStewardConfig = types.BoolValue(c.IncludeStewardConfig)
	m.Pre = list(m.Pre, c.Pre)
	m.Post = list(m.Post, c.Post)
	m.KeepLast = num(m.KeepLast, c.Retention.KeepLast)
	m.KeepHourly = num(m.KeepHourly, c.Retention.KeepHourly)
	m.KeepDaily = num(m.KeepDaily, c.Retention.KeepDaily)
	m.KeepWeekly = num(m.KeepWeekly, c.Retention.KeepWeekly)
	m.KeepMonthly = num(m.KeepMonthly, c.Retention.KeepMonthly)
	m.KeepYearly = num(m.KeepYearly, c.Retention.KeepYearly)
	m.KeepWithin = str(m.KeepWithin, c.Retention.KeepWithin)
	if len(c.Dumps) == 0 && m.Dumps.IsNull() {
		return diags
	}
	dumps := map[string][]string{}
	for _, d := range c.Dumps {
		dumps[d.Name] = d.Command
	}
	v, d := types.MapValueFrom(ctx, types.ListType{ElemType: types.StringType}, dumps)
	diags.Append(d...)
	m.Dumps = v
	return diags
}

func (m *backupScheduleModel) setStatus(st api.ObjectStatus[api.BackupSchedule, api.BackupObserved], now time.Time) {
	o := st.Observed
	m.ConfigSHA256 = types.StringValue(st.SpecSHA256)
	m.LastSuccessAt = types.StringValue(rfc3339(o.LastSuccessAt))
	m.LastSnapshotID = types.StringValue(o.LastSnapshotID)
	m.SnapshotCount = types.Int64Value(int64(o.SnapshotCount))
	m.LastVerifiedAt = types.StringValue(rfc3339(o.LastVerifiedAt))
	fresh := !o.LastSnapshotMissing
	if d, err := api.ParseDuration(m.StaleAfter.ValueString()); err == nil && !m.StaleAfter.IsNull() {
		fresh = fresh && !o.LastSuccessAt.IsZero() && now.Sub(o.LastSuccessAt) < d
	}
	m.Fresh = types.BoolValue(fresh)
	m.NextKind = types.StringValue(o.NextSnapshotKind)
	if st.Spec != nil {
		var diags diag.Diagnostics // a list of strings always converts
		m.Fingerprints = fingerprintList(st.Spec.Recipients, &diags)
	}
	for _, b := range []*types.Bool{&m.RunOnCreate, &m.RunOnChange} {
		if b.IsNull() || b.IsUnknown() {
			*b = basetypes.NewBoolValue(false)
		}
	}
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
