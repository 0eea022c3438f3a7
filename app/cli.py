"""Command-line tasks: seed data, the first admin account, audit retention, backups, the uploads' sweep."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import Flask

from app.extensions import db
from app.files.sweep import DEFAULT_GRACE, MINIMUM_GRACE, sweep_orphans


def register_commands(app: Flask) -> None:
    @app.cli.group()
    def seed():
        """Load seed data."""

    @seed.command("places")
    def seed_places():
        """Load Jinjiang's townships and known communities, and the consultation catalogue (safe to run again)."""
        from app.fixtures import load_catalogue, load_places

        load_places()
        load_catalogue()
        db.session.commit()
        click.echo("places loaded")

    @seed.command("demo")
    @click.option("--if-empty", is_flag=True, help="Only when the database has no accounts yet.")
    def seed_demo(if_empty: bool):
        """Load the demo database (places, demo accounts with password Demo@2024)."""
        from app.fixtures import database_is_empty, load_demo

        if if_empty and not database_is_empty():
            click.echo("database already has data; demo data not loaded")
            return
        made = load_demo()
        db.session.commit()
        click.echo(f"demo data loaded ({made} accounts)")

    @app.cli.command("create-admin")
    @click.option("--username", prompt=True)
    @click.password_option()
    def create_admin(username: str, password: str):
        """Create an administrator account for a real deployment."""
        from app.accounts.models import Role
        from app.accounts.operations import create_user, find_user
        from app.accounts.passwords import password_problems

        problems = password_problems(password, username)
        if problems:
            raise click.ClickException(" ".join(problems))
        if find_user(username):
            raise click.ClickException(f"user {username} already exists")
        create_user(username=username, password=password, role=Role.ADMIN, display_name="系统管理员",
                    must_change_password=False)
        db.session.commit()
        click.echo(f"admin {username} created")

    @app.cli.command("reminders")
    def reminders():
        """Make today's monthly-report reminders for every township (run daily from cron)."""
        from app.tracking.notifications import all_reminders

        count = all_reminders()
        db.session.commit()
        click.echo(f"{count} reminders")

    @app.cli.command("purge-audit")
    @click.option("--older-than-days", type=int, required=True)
    def purge_audit(older_than_days: int):
        """Delete audit rows older than N days (N at least AUDIT_RETENTION_DAYS, itself at least 180)."""
        from app.audit.operations import purge_older_than

        try:
            count = purge_older_than(older_than_days)
        except ValueError as error:
            raise click.ClickException(str(error)) from error
        db.session.commit()
        click.echo(f"{count} audit rows deleted")

    @app.cli.group()
    def files():
        """Uploaded files."""

    @files.command("sweep")
    @click.option("--older-than-minutes", type=click.IntRange(min=int(MINIMUM_GRACE.total_seconds() // 60)),
                  default=int(DEFAULT_GRACE.total_seconds() // 60), show_default=True,
                  help="Leave younger files alone: another worker may still be committing their rows.")
    @click.option("--dry-run", is_flag=True, help="Only list what would be removed; remove and record nothing.")
    def files_sweep(older_than_minutes: int, dry_run: bool):
        """Remove files under UPLOAD_FOLDER that no stored_files row names (and record the sweep in the audit log)."""
        result = sweep_orphans(timedelta(minutes=older_than_minutes), dry_run=dry_run)
        db.session.commit()
        for name in result.left_alone:
            click.echo(f"left alone (not an upload's name, or not a regular file): {name}")
        verb = "would remove" if dry_run else "removed"
        for name in result.removed:
            click.echo(f"{verb}: {name}")
        click.echo(f"{len(result.removed)} orphan files {'would be ' if dry_run else ''}removed "
                   f"({result.removed_bytes} bytes); kept {result.referenced} named by a row and {result.too_young} "
                   f"younger than {older_than_minutes} minutes")

    @app.cli.command("backup")
    @click.option("--to", "destination", type=click.Path(file_okay=False),
                  help="Folder to write the backup folder into (default: instance/backups).")
    def backup(destination: str | None):
        """Back up the live database and the uploads into a timestamped folder with a manifest."""
        from app.backup import BackupError, create_backup

        try:
            folder = create_backup(destination)
        except BackupError as error:
            raise click.ClickException(str(error)) from error
        click.echo(str(folder))

    @app.cli.command("restore")
    @click.argument("folder", type=click.Path(exists=True, file_okay=False))
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    def restore(folder: str, yes: bool):
        """Restore a backup folder (the app must be stopped): verified first, then uploads and database."""
        from app.backup import BackupError, database_kind, refusal, restore_backup, verify_backup

        try:
            manifest, problems = verify_backup(folder)
            if problems:
                raise BackupError(refusal(problems))
            if manifest["database"]["kind"] != database_kind():
                raise BackupError(f"the backup holds a {manifest['database']['kind']} database; "
                                  f"this app uses {database_kind()}")
        except BackupError as error:
            raise click.ClickException(str(error)) from error
        click.echo(f"backup verified: {len(manifest['files'])} files, {manifest['database']['kind']} database "
                   f"taken {manifest['created_at']}")
        if not yes:
            click.confirm("This replaces the whole database and the uploads folder. Is the app stopped, and "
                          "should the restore go ahead?", abort=True)
        try:
            restore_backup(folder, echo=click.echo, verified=manifest)
        except BackupError as error:
            raise click.ClickException(str(error)) from error
        click.echo("restore complete")

    @app.cli.command("check")
    def check():
        """Check database integrity and every stored file's presence, size and sha256; list orphans."""
        from app.backup import run_check

        report = run_check()
        for line in report.lines():
            click.echo(line)
        if not report.ok:
            raise click.exceptions.Exit(1)

    @app.cli.command("bench-data")
    @click.option("--scale", required=True, metavar="[city|province]",
                  help="city: Jinjiang, five years of three programmes; province: 50 times that volume.")
    @click.option("--seed", type=int, default=1, show_default=True, help="The same seed gives the same data.")
    @click.option("--today", type=click.DateTime(["%Y-%m-%d"]), hidden=True, help="Run as if on this date (tests).")
    def bench_data(scale: str, seed: int, today):
        """Fill an EMPTY migrated database with benchmark data (issue 9) and print the rows made per table."""
        from app.bench_data import BenchError, generate

        try:
            result = generate(scale, seed, today=today.date() if today else None)
        except BenchError as error:
            raise click.ClickException(str(error)) from error
        for line in result.lines():
            click.echo(line)
