"""`campuspulse audit …`: verify the audit chain against signed checkpoints and issued reports, sign one now."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from campuspulse.cli_admin import StoreOpt, console, err, store_session

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

audit_app = typer.Typer(help="The audit chain: verify it, sign checkpoints of its head.", no_args_is_help=True)


def _trusted_keys(texts: list[str], key_file: Path | None) -> "list[Ed25519PublicKey]":
    from campuspulse.server.audit_checkpoints import load_or_create_key, parse_public_key

    keys = []
    for text in texts:
        path = Path(text)
        keys.append(parse_public_key(path.read_text() if not text.startswith("ed25519:") and path.is_file() else text))
    if key_file is not None:
        if not key_file.exists():
            raise typer.BadParameter(f"{key_file} does not exist", param_hint="--key")
        keys.append(load_or_create_key(key_file)[0].public_key())
    return keys


@audit_app.command("verify")
def verify(
    store: StoreOpt = None,
    checkpoints: Annotated[
        list[Path] | None, typer.Option("--checkpoints", help="a checkpoint file the server published (repeatable)")
    ] = None,
    public_key: Annotated[
        list[str] | None,
        typer.Option(help="a trusted public key (ed25519:…, as printed when the key was made) or a file holding one"),
    ] = None,
    key: Annotated[Path | None, typer.Option(help="trust the public half of this signing key file")] = None,
    report: Annotated[
        list[Path] | None, typer.Option("--report", help="a copy of an issued report (.xlsx) to check against")
    ] = None,
) -> None:
    """Check the chain in itself, against every checkpoint (signature first) and against the head each issued
    report carries (those in the store and copies given); exit 1 naming every disagreement."""
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from campuspulse.server.audit_checkpoints import (
        CheckpointError,
        read_checkpoints,
        report_witnesses,
        signed_witnesses,
        verify_anchored,
    )

    files = checkpoints or []
    try:
        trusted = _trusted_keys(public_key or [], key)
        if files and not trusted:
            raise CheckpointError(
                "checkpoints are checked with the public key printed when the key was made: give it "
                "with --public-key (or the key file with --key)"
            )
        witnesses, problems = [], []
        for f in files:
            found, bad = signed_witnesses(read_checkpoints(f), trusted, str(f))
            witnesses += found
            problems += bad
    except CheckpointError as exc:
        err.print(f"[red]error[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err, transient=True) as progress:
        progress.add_task("recomputing the audit chain …")
        with store_session(store) as s:
            from_reports, unreadable = report_witnesses(s, report or [])
            result = verify_anchored(s, [*witnesses, *from_reports], [*problems, *unreadable])
    for problem in result["problems"]:
        err.print(f"[red]broken[/] {problem}", highlight=False)
    summary = f"{result['entries']} entries, {result['witnesses']} witnesses (checkpoints and issued reports)"
    if not result["ok"]:
        err.print(f"[red]the audit chain does not verify[/]: {summary}", highlight=False)
        raise typer.Exit(1)
    console.print(f"[green]ok[/] {summary}", highlight=False)


@audit_app.command("checkpoint")
def checkpoint(
    key: Annotated[Path, typer.Option(help="the Ed25519 signing key file (made if missing)")],
    to: Annotated[str, typer.Option(help="a checkpoint file to append to, or an http(s) URL to POST to")],
    store: StoreOpt = None,
) -> None:
    """Sign the chain's head now and publish it (also what the server does every `audit_checkpoint_every_s`)."""
    from campuspulse.server.audit_checkpoints import (
        CheckpointError,
        load_or_create_key,
        public_key_text,
        publish,
        record_public_key,
        sign_head,
    )

    try:
        private, created = load_or_create_key(key)
        with store_session(store) as s:
            record_public_key(s, private.public_key())
            cp = sign_head(s, private)
        publish(cp, to)
    except CheckpointError as exc:
        err.print(f"[red]error[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    if created:
        console.print(f"made {key}; its public key: {public_key_text(private.public_key())}", soft_wrap=True)
    console.print(f"checkpoint of entry {cp.seq} ({cp.hash[:12]}…) published to {to}", soft_wrap=True)


@audit_app.command("public-key")
def public_key_of(key: Annotated[Path, typer.Argument(help="the Ed25519 signing key file")]) -> None:
    """Print the public key of a signing key file (what auditors verify checkpoints with)."""
    from campuspulse.server.audit_checkpoints import CheckpointError, load_or_create_key, public_key_text

    if not key.exists():
        err.print(f"[red]error[/] {key} does not exist", highlight=False)
        raise typer.Exit(2)
    try:
        console.print(public_key_text(load_or_create_key(key)[0].public_key()), soft_wrap=True, highlight=False)
    except CheckpointError as exc:
        err.print(f"[red]error[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
