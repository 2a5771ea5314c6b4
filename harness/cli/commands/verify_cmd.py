"""`harness verify-report FILE|URL`: check a validator's signed document (`/rounds/N.json`, `/settings.json`).

Exit codes (as `harness check`): 0 the signature is valid (by `--signer`, when given), 1 it is not (unsigned,
another signer, or a byte changed since signing), 2 it could not be checked (unreadable file, unreachable URL,
not a JSON object).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from harness.errors import HarnessError
from harness.web.signing import SignatureError, read_document, verify_document
from policies.printable import printable


def register(app: typer.Typer) -> None:
    @app.command("verify-report")
    def verify_report(
        source: Annotated[
            str,
            typer.Argument(
                help="A signed document: a file, or an http(s) URL such as "
                "http://VALIDATOR:PORT/rounds/7.json or .../settings.json."
            ),
        ],
        signer: Annotated[
            str | None, typer.Option("--signer", help="The validator hotkey (ss58) that must have signed it.")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
    ) -> None:
        """Check the signature of a validator's published round or settings document.

        Exit 0 valid, 1 invalid (unsigned, another signer, changed since signing), 2 could not check.
        """
        try:
            document = read_document(source)
        except HarnessError as exc:
            _report(as_json, source, None, None, str(exc), document=None)
            raise typer.Exit(2) from None
        try:
            who = verify_document(document, expected_signer=signer)
        except SignatureError as exc:
            _report(as_json, source, False, document.get("signer"), str(exc), document=document)
            raise typer.Exit(1) from None
        _report(as_json, source, True, who, None, document=document)


def _report(
    as_json: bool, source: str, valid: bool | None, signer: Any, error: str | None, document: dict[str, Any] | None
) -> None:
    kind = document.get("signer_kind") if document is not None else None
    what = document.get("format") if document is not None else None
    round_id = (
        (document.get("round") or {}).get("id")
        if document is not None and isinstance(document.get("round"), dict)
        else None
    )
    if as_json:
        payload = {"source": source, "valid": valid, "signer": signer, "signer_kind": kind, "format": what}
        payload |= {"round": round_id, "error": error}
        typer.echo(json.dumps(payload, default=str))
        return
    shown = printable(str(signer)) if signer is not None else "nobody"
    if valid:
        line = f"valid: {printable(str(what))}{f' round {round_id}' if round_id is not None else ''} signed by {shown}"
        if kind == "local-dev":
            line += " (a local chain's development key: it proves the bytes are intact, not who published them)"
        typer.echo(line)
    elif valid is False:
        typer.echo(f"INVALID: {printable(error or '')}", err=True)
    else:
        typer.echo(f"could not check: {printable(error or '')}", err=True)
