package provider

import (
	"context"
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
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	tfpath "github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/client"
	"github.com/stewardhq/terraform-provider-steward/internal/cron"
)

// NewBackupScheduleResource returns the steward_backup_schedule resource:
// the managed-object resource with the backup kind.
func NewBackupScheduleResource() resource.Resource {
	return &objectResource[backupScheduleModel, *backupScheduleModel, api.BackupSchedule, api.BackupObserved]{k: backupScheduleKind()}
}

type backupScheduleModel struct {
	objectState
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

// backupScheduleDescription documents steward_backup_schedule.
const backupScheduleDescription = "A backup schedule run by the Steward agent on a host: streamed tar → zstd → age snapshots, " +
	"full and incremental, verified after every run and restore-drilled every `verify_every`, with restic-style retention " +
	"that never deletes the newest verified snapshot or a snapshot a kept one depends on. The host encrypts to `recipients` " +
	"(public keys), so it can write backups it cannot read."

// backupScheduleAttributes are the kind's own attributes (schema version 0);
// objectSchema adds host, name, id, host_id and config_sha256.
func backupScheduleAttributes() map[string]schema.Attribute {
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
	return map[string]schema.Attribute{
		// Required.
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
	}
}

// backupScheduleKind is steward_backup_schedule as a managed object.
func backupScheduleKind() objectKind[backupScheduleModel, api.BackupSchedule, api.BackupObserved] {
	return objectKind[backupScheduleModel, api.BackupSchedule, api.BackupObserved]{
		api:             api.BackupKind,
		typeName:        "backup_schedule",
		description:     backupScheduleDescription,
		nameDescription: "Schedule name: lower-case letters, digits, `_` and `-`. Snapshots live under `<destination>/<name>/`.",
		attributes:      backupScheduleAttributes(),
		validators: []resource.ConfigValidator{
			resourcevalidator.ExactlyOneOf(tfpath.MatchRoot("destination"), tfpath.MatchRoot("sftp")),
		},
		known: func(m *backupScheduleModel) bool { return m.known() },
		toSpec: func(ctx context.Context, m *backupScheduleModel) (api.BackupSchedule, diag.Diagnostics) {
			return m.toAPI(ctx)
		},
		fromSpec: func(ctx context.Context, m *backupScheduleModel, s api.BackupSchedule) diag.Diagnostics {
			return m.fromAPI(ctx, s)
		},
		observe:        (*backupScheduleModel).setStatus,
		plan:           planBackupSchedule,
		afterConfigure: runBackupIfDue,
		configureError: backupConfigureError,
		importState: func(ctx context.Context, resp *resource.ImportStateResponse) {
			resp.Diagnostics.Append(resp.State.SetAttribute(ctx, tfpath.Root("run_on_create"), false)...)
		},
	}
}

// planBackupSchedule plans fresh at its desired value, so a stale backup
// shows in `terraform plan`, leaves unknown what a backup the apply runs
// changes, and says what a change of recipients does to the next snapshot.
func planBackupSchedule(ctx context.Context, plan, state *backupScheduleModel, specChanged bool, diags *diag.Diagnostics) {
	cfg, _ := plan.toAPI(ctx)
	plan.Fingerprints = fingerprintList(cfg.Recipients, diags)
	if state == nil {
		return
	}
	runs := plan.runsOnApply(*state)
	switch {
	case !specChanged && !runs:
		// Nothing to run: the status stays as it is.
		plan.LastSuccessAt, plan.LastSnapshotID, plan.SnapshotCount, plan.LastVerifiedAt, plan.NextKind, plan.Fresh =
			state.LastSuccessAt, state.LastSnapshotID, state.SnapshotCount, state.LastVerifiedAt, state.NextKind, state.Fresh
	case runs:
		// The apply takes a backup: fresh after it, and what it changes is
		// known only then.
		plan.Fresh = types.BoolValue(true)
		plan.LastSuccessAt, plan.LastSnapshotID, plan.LastVerifiedAt, plan.NextKind =
			types.StringUnknown(), types.StringUnknown(), types.StringUnknown(), types.StringUnknown()
		plan.SnapshotCount = types.Int64Unknown()
	default:
		// Only the spec changes; freshness depends on when the apply runs,
		// and the next snapshot's kind on the new spec.
		plan.Fresh, plan.NextKind = types.BoolUnknown(), types.StringUnknown()
		if startsNewChain(*state, *plan) {
			plan.NextKind = types.StringValue(api.SnapshotFull)
		}
	}
	if !plan.Fingerprints.Equal(state.Fingerprints) && !state.Fingerprints.IsNull() {
		diags.Append(rotationWarning(cfg.Name, state.Fingerprints, plan.Fingerprints, runs))
	}
}

// runBackupIfDue runs one backup during the apply that creates the
// schedule (run_on_create), that changes it (run_on_change), or that finds
// it stale, and reads the status again.
func runBackupIfDue(ctx context.Context, conn hostConn, plan, state *backupScheduleModel, st *api.ObjectStatus[api.BackupSchedule, api.BackupObserved]) diag.Diagnostics {
	var diags diag.Diagnostics
	run := plan.RunOnCreate.ValueBool()
	if state != nil {
		run = plan.runsOnApply(*state)
	}
	if !run {
		return diags
	}
	name := api.ObjectName{Name: plan.Name.ValueString()}
	op := conn.Operator(localUser())
	if _, err := client.Call(ctx, conn, api.BackupRun, op, name); err != nil {
		diags.AddError("Backup Failed", fmt.Sprintf("The backup %q on %s failed: %v", name.Name, conn.Address(), err))
		return diags
	}
	// The run changed the catalog: read the status again.
	s, err := client.Call(ctx, conn, api.BackupKind.Status(), op, name)
	if err != nil {
		diags.Append(agentDiagnostic("Unable to Read Backup Schedule", conn.Address(), err))
		return diags
	}
	*st = s
	return diags
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

// agentDiagnostic maps an agent error to a diagnostic by its kind and
// api.Error code, never by its text.
func agentDiagnostic(summary, address string, err error) diag.Diagnostic {
	detail := err.Error()
	if why := agentUnusable(err); why != "" {
		detail += "\n\nThe Steward agent on " + address + " " + why + ": create or apply its steward_host first."
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

// backupConfigureError blames the backup kind's own refusals on the
// attribute they are about.
func backupConfigureError(ae *api.Error, address string) (diag.Diagnostic, bool) {
	var attr, summary string
	switch ae.Code {
	case api.CodePathMissing:
		attr, summary = "paths", "Backup Path Missing"
	case api.CodePathSymlink:
		attr, summary = "paths", "Backup Path Through a Symlink"
	case api.CodeDestinationUnsafe:
		attr, summary = "destination", "Unsafe Backup Destination"
	default:
		return nil, false
	}
	return diag.NewAttributeErrorDiagnostic(tfpath.Root(attr), summary, fmt.Sprintf("On %s: %s.", address, ae.Message)), true
}
