"""How user verbs reach a running triops server, and the ``triops login`` profiles.

The server is, first found first: ``--server`` (or ``TRIOPS_URL``), the URL of the
``triops login`` profile (``--profile`` / ``TRIOPS_PROFILE``, default ``default``), then
the server that ``triops up`` would start here (``host``/``port`` of ``triops.toml`` or
``TRIOPS_HOST``/``TRIOPS_PORT``; 127.0.0.1:7600 by default). The key is ``--api-key``
(or ``TRIOPS_API_KEY``), else the profile's key, which is only sent to the profile's
own server. Profiles live in the user's config folder (``triops login --where`` prints
it) in a file only its owner can read (0600).
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from triops.core.errors import ConfigError, Unauthenticated

if TYPE_CHECKING:
    from triops.llm.evals.runner import ServerClient

ServerOpt = Annotated[str | None, typer.Option(
    "--server", envvar="TRIOPS_URL", show_default=False,
    help="triops server URL (default: the login profile's, else the local server)")]
KeyOpt = Annotated[str | None, typer.Option(
    "--api-key", envvar="TRIOPS_API_KEY", show_default=False,
    help="API key (default: the login profile's)")]
ProfileOpt = Annotated[str, typer.Option(
    "--profile", envvar="TRIOPS_PROFILE", help="triops login profile")]

PROFILES_FILE = "profiles.toml"


def config_dir() -> Path:
    """The user's config folder for triops (``$XDG_CONFIG_HOME/triops`` or
    ``~/.config/triops`` on Linux, the platform's own elsewhere)."""
    return Path(typer.get_app_dir("triops"))


@dataclass(frozen=True)
class Profile:
    url: str
    api_key: str | None = None


def read_profiles(folder: Path | None = None) -> dict[str, Profile]:
    path = (folder or config_dir()) / PROFILES_FILE
    if not path.is_file():
        return {}
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the login profiles in {path}: {exc}") from None
    profiles = {}
    for name, entry in raw.items():
        if isinstance(entry, dict) and isinstance(entry.get("url"), str):
            key = entry.get("api_key")
            profiles[name] = Profile(entry["url"], key if isinstance(key, str) else None)
    return profiles


def _toml_string(text: str) -> str:
    # JSON's escapes (\" \\ \n \uXXXX) are valid in a TOML basic string.
    return json.dumps(text, ensure_ascii=True)


def write_profiles(profiles: dict[str, Profile], folder: Path | None = None) -> Path:
    """Write every profile to a file only its owner can read or write."""
    folder = folder or config_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    lines: list[str] = []
    for name, profile in sorted(profiles.items()):
        lines.append(f"[{_toml_string(name)}]")
        lines.append(f"url = {_toml_string(profile.url)}")
        if profile.api_key:
            lines.append(f"api_key = {_toml_string(profile.api_key)}")
        lines.append("")
    path = folder / PROFILES_FILE
    # Created 0600 before the secret is written, and tightened if it existed looser.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), stat.S_IRUSR | stat.S_IWUSR)
        out.write("\n".join(lines))
    return path


def _local_server() -> str:
    from triops.core.settings import Settings

    settings = Settings.load()
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def _same_server(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def resolve(server: str | None, api_key: str | None, profile: str = "default"
            ) -> tuple[str, str | None]:
    """The URL and key a user verb uses (see the module's docstring for the order)."""
    saved = read_profiles().get(profile)
    if profile != "default" and saved is None:
        raise ConfigError(f"no login profile {profile!r}: run `triops login --profile "
                          f"{profile} --server URL --api-key KEY` first")
    url = server or (saved.url if saved else None) or _local_server()
    if api_key is None and saved is not None and _same_server(saved.url, url):
        api_key = saved.api_key
    return url, api_key


def client_for(url: str, api_key: str | None, project: str | None = None) -> ServerClient:
    """A client of the server at ``url`` with this key."""
    # The client's module loads the eval package with it (scorers, numpy), which only
    # the verbs that reach a server need.
    from triops.llm.evals.runner import ServerClient

    return ServerClient(url, api_key, project)


def connect(server: str | None, api_key: str | None, profile: str = "default",
            project: str | None = None) -> ServerClient:
    url, key = resolve(server, api_key, profile)
    return client_for(url, key, project)


__all__ = ["KeyOpt", "Profile", "ProfileOpt", "ServerOpt", "call", "call_server",
           "client_for", "config_dir", "connect", "read_profiles", "resolve",
           "write_profiles"]


def call(client: ServerClient, method: str, path: str, **kw: Any) -> Any:
    """One request; a missing or refused key says how to give one."""
    try:
        return client.call(method, path, **kw)
    except Unauthenticated as exc:
        raise Unauthenticated(f"{exc.message}: pass --api-key, set TRIOPS_API_KEY or run "
                              "`triops login`") from None


def call_server(server: str | None, api_key: str | None, method: str, path: str,
                profile: str = "default", project: str | None = None, **kw: Any) -> Any:
    """One request to the server the user verbs reach; the client is closed afterwards."""
    client = connect(server, api_key, profile, project)
    try:
        return call(client, method, path, **kw)
    finally:
        client.close()
