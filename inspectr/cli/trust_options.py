"""The keyless trust flags, spelled as cosign spells them, shared by `verify` and `gate`."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from ..errors import UsageError
from ..verify.keyless import IdentityPolicy
from ..verify.provenance import ProvenanceExpectation

__all__ = ["keyless_options", "KeylessInputs", "provenance_options"]

F = TypeVar("F", bound=Callable[..., Any])
KeylessInputs = tuple[IdentityPolicy, "Path | None"]

_FLAGS = (  # (flag, IdentityPolicy field, help)
    ("--certificate-identity", "identity", "The signing certificate's identity (SAN: e-mail or URI) must equal this."),
    ("--certificate-identity-regexp", "identity_regexp", "…or match this regular expression (searched, as cosign does: anchor with ^…$)."),
    ("--certificate-oidc-issuer", "issuer", "The OIDC issuer recorded in the certificate must equal this."),
    ("--certificate-oidc-issuer-regexp", "issuer_regexp", "…or match this regular expression."),
    ("--certificate-github-workflow-repository", "github_repository", "GitHub Actions claim: repository (owner/name)."),
    ("--certificate-github-workflow-ref", "github_ref", "GitHub Actions claim: ref (refs/heads/main, refs/tags/v1)."),
    ("--certificate-github-workflow-sha", "github_sha", "GitHub Actions claim: commit SHA."),
    ("--certificate-github-workflow-trigger", "github_trigger", "GitHub Actions claim: event that triggered the run."),
    ("--certificate-github-workflow-name", "github_workflow", "GitHub Actions claim: workflow name."),
)


def keyless_options(func: F) -> F:
    """Adds the flags above and --trusted-root, and hands the command one `keyless` value."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        policy = IdentityPolicy(**{name: kwargs.pop(f"cert_{name}") for _, name, _ in _FLAGS})
        kwargs["keyless"] = (policy, kwargs.pop("trusted_root"))
        return func(*args, **kwargs)

    out: Any = wrapper
    for flag, name, help_text in reversed(_FLAGS):
        out = click.option(flag, f"cert_{name}", metavar="TEXT", help=help_text)(out)
    out = click.option("--trusted-root", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
                       help="Sigstore trusted_root.json for keyless signatures (default: public-good Sigstore's, "
                            "as shipped in the installed sigstore package; never fetched).")(out)
    return out  # type: ignore[no-any-return]


def provenance_options(func: F) -> F:
    """slsa-verifier's flags; --source-uri turns the check on. Hands the command `provenance`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        source = kwargs.pop("source_uri")
        params = []
        for item in kwargs.pop("build_params"):
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise UsageError(f"--build-param {item!r}: expected NAME=VALUE")
            params.append((name, value))
        fields = {k: kwargs.pop(k) for k in ("builder_id", "source_branch", "source_tag", "source_versioned_tag")}
        if source is None and (params or any(v is not None for v in fields.values())):
            raise UsageError("--builder-id, --source-branch, --source-tag, --source-versioned-tag and --build-param need --source-uri")
        kwargs["provenance"] = None if source is None else ProvenanceExpectation(
            source, fields["builder_id"], fields["source_branch"], fields["source_tag"], fields["source_versioned_tag"], tuple(params))
        return func(*args, **kwargs)

    out: Any = wrapper
    for flag, name, help_text in reversed((
            ("--source-uri", "source_uri", "Check the verified SLSA provenance as slsa-verifier does: built from this "
                                           "repository (github.com/ORG/REPO)."),
            ("--builder-id", "builder_id", "…by this builder (default: the trusted SLSA GitHub generators)."),
            ("--source-branch", "source_branch", "…from this branch."),
            ("--source-tag", "source_tag", "…at this tag."),
            ("--source-versioned-tag", "source_versioned_tag", "…at a tag of this semver major or minor (v1, v1.2)."))):
        out = click.option(flag, name, metavar="TEXT", help=help_text)(out)
    out = click.option("--build-param", "build_params", multiple=True, metavar="NAME=VALUE",
                       help="…with this workflow input or build argument. Repeatable.")(out)
    return out  # type: ignore[no-any-return]
