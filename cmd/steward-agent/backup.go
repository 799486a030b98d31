package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/backup/schedule"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"

	"filippo.io/age"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/backup"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

const backupUsage = `usage: steward-agent backup <command> [flags]

commands:
  run     --schedule NAME | --config FILE
  list    --schedule NAME | --config FILE
  verify  --schedule NAME | --config FILE --snapshot ID|latest [--identity FILE]
  restore --schedule NAME | --config FILE --snapshot ID|latest --target DIR
          [--include PATH]... [--dry-run] [--overwrite] --identity FILE

--config reads a schedule from any file (same JSON as /etc/steward/backups/NAME.json),
--identity is an age identity file (age-keygen output); without it verify only
re-reads the archive digests.
`

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// backup runs one backup subcommand.
func (c *cli) backup(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, backupUsage)
		return exitUsage
	}
	sub, rest := args[0], args[1:]
	fs := c.newFlags("backup " + sub)
	name := fs.String("schedule", "", "schedule name (reads /etc/steward/backups/NAME.json)")
	config := fs.String("config", "", "schedule configuration file")
	snapshot := fs.String("snapshot", "latest", "snapshot ID or latest")
	target := fs.String("target", "", "directory to restore into")
	identity := fs.String("identity", "", "age identity file")
	dryRun := fs.Bool("dry-run", false, "show what would be restored")
	overwrite := fs.Bool("overwrite", false, "overwrite existing files")
	var include multiFlag
	fs.Var(&include, "include", "restore only this path and below (repeatable)")
	if code := c.parse(fs, rest); code >= 0 {
		return code
	}
	cfg, err := c.loadSchedule(*name, *config)
	if err != nil {
		return c.fail("backup "+sub, err)
	}
	// A person at a terminal gets the result on stdout; the log adds only
	// warnings (files left out, notes) and errors.
	log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if sub == "run" {
		// RunBackup connects to the destination itself.
		res, err := schedule.Run(ctx, core.Deps{Paths: c.paths, Logger: log}, cfg, api.Operator{LocalUser: os.Getenv("USER")})
		if err != nil {
			return c.fail("backup run", err)
		}
		return c.printJSON(res)
	}
	eng, closeEng, err := schedule.OpenEngine(ctx, c.paths, cfg, log)
	if err != nil {
		return c.fail("backup "+sub, err)
	}
	defer closeEng()
	var ids []age.Identity
	if *identity != "" {
		f, err := os.Open(*identity)
		if err != nil {
			return c.fail("backup "+sub, err)
		}
		ids, err = age.ParseIdentities(f)
		_ = f.Close()
		if err != nil {
			return c.fail("backup "+sub, fmt.Errorf("read identity %s: %w", *identity, err))
		}
	}
	switch sub {
	case "list":
		snaps, err := eng.List(ctx, cfg.Name)
		if err != nil {
			return c.fail("backup list", err)
		}
		for _, s := range snaps {
			fmt.Fprintf(c.stdout, "%s  %-11s  %8d files  %12d bytes  parent=%-24s verified=%s\n",
				s.ID, s.Kind, s.Files, s.Bytes, s.Parent, s.Verified)
		}
		return exitOK
	case "verify":
		id, err := c.resolveSnapshot(ctx, eng, cfg.Name, *snapshot)
		if err != nil {
			return c.fail("backup verify", err)
		}
		s, err := eng.Verify(ctx, cfg.Name, id, ids)
		if err != nil {
			return c.fail("backup verify", err)
		}
		how := "archive digests re-read; pass --identity for a restore drill"
		if len(ids) > 0 {
			how = "restore drill: every file matches its manifest digest"
		}
		fmt.Fprintf(c.stdout, "snapshot %s verified (%s)\n", s.ID, how)
		return exitOK
	case "restore":
		if *target == "" {
			fmt.Fprintln(c.stderr, "steward-agent backup restore: --target is required")
			return exitUsage
		}
		if len(ids) == 0 && cfg.PassphraseFile != "" {
			if id, err := eng.PassphraseIdentity(ctx, cfg.Name, cfg.PassphraseFile); err == nil {
				ids = []age.Identity{id}
			}
		}
		if len(ids) == 0 {
			fmt.Fprintln(c.stderr, "steward-agent backup restore: --identity is required (the host only holds public keys)")
			return exitUsage
		}
		progress := c.progressBar()
		res, err := eng.Restore(ctx, backup.RestoreOptions{Schedule: cfg.Name, Snapshot: *snapshot, Target: *target,
			Include: include, DryRun: *dryRun, Overwrite: *overwrite, Identities: ids, Progress: progress})
		if progress != nil {
			fmt.Fprintln(c.stderr)
		}
		if err != nil {
			return c.fail("backup restore", err)
		}
		verb := "restored"
		if *dryRun {
			verb = "would restore"
		}
		files := "files"
		if res.Files == 1 {
			files = "file"
		}
		fmt.Fprintf(c.stdout, "%s %d %s (%d bytes) into %s\n", verb, res.Files, files, res.Bytes, *target)
		return exitOK
	default:
		fmt.Fprintf(c.stderr, "steward-agent backup: unknown command %q\n\n%s", sub, backupUsage)
		return exitUsage
	}
}

func (c *cli) loadSchedule(name, file string) (api.BackupSchedule, error) {
	var cfg api.BackupSchedule
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return cfg, err
		}
		if err := json.Unmarshal(b, &cfg); err != nil {
			return cfg, fmt.Errorf("parse %s: %w", file, err)
		}
		return cfg, nil
	case name != "":
		cfg, _, err := schedule.Load(c.paths, name)
		return cfg, err
	default:
		return cfg, fmt.Errorf("give --schedule NAME or --config FILE")
	}
}

func (c *cli) resolveSnapshot(ctx context.Context, eng *backup.Engine, name, id string) (string, error) {
	if id != "latest" {
		return id, nil
	}
	snaps, err := eng.List(ctx, name)
	if err != nil {
		return "", err
	}
	if len(snaps) == 0 {
		return "", fmt.Errorf("schedule %q has no snapshots", name)
	}
	return snaps[len(snaps)-1].ID, nil
}

func (c *cli) printJSON(v any) int {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return c.fail("write output", err)
	}
	return exitOK
}

// progressBar draws restore progress on a terminal; nil elsewhere.
func (c *cli) progressBar() func(done, total int64) {
	f, ok := c.stderr.(*os.File)
	if !ok {
		return nil
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return func(done, total int64) {
		const width = 30
		frac := 0.0
		if total > 0 {
			frac = float64(done) / float64(total)
		}
		n := int(frac * width)
		fmt.Fprintf(f, "\rrestoring [%s%s] %5.1f%%  %d/%d MiB", strings.Repeat("#", n), strings.Repeat(".", width-n), frac*100, done>>20, total>>20)
	}
}
