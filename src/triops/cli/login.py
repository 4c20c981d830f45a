"""``triops login`` / ``triops logout``: remember a server and a key for the user verbs."""

from __future__ import annotations

from typing import Annotated

import typer

from triops.cli.common import console
from triops.cli.remote import (
    PROFILES_FILE,
    Profile,
    ProfileOpt,
    call,
    client_for,
    config_dir,
    read_profiles,
    write_profiles,
)
from triops.core.errors import InvalidInput, NotFound


def login(
    server: Annotated[str | None, typer.Option(
        "--server", envvar="TRIOPS_URL", help="triops server URL, e.g. https://triops.example")
    ] = None,
    api_key: Annotated[str | None, typer.Option(
        "--api-key", envvar="TRIOPS_API_KEY", show_default=False,
        help="API key (asked for when left out)")] = None,
    profile: ProfileOpt = "default",
    where: Annotated[bool, typer.Option("--where", help="Print the profiles file and stop")] = False,
) -> None:
    """Check a key against a server and save both as a profile (readable only by you)."""
    if where:
        console.print(str(config_dir() / PROFILES_FILE), highlight=False, soft_wrap=True)
        return
    if not server:
        raise InvalidInput("--server URL is required, e.g. --server http://127.0.0.1:7600")
    if not server.startswith(("http://", "https://")):
        raise InvalidInput(f"--server {server!r} must start with http:// or https://")
    if api_key is None:
        api_key = typer.prompt("API key", hide_input=True)
    client = client_for(server, api_key)
    try:
        # A viewer's request that needs a valid key: the key is checked before it is saved.
        projects = call(client, "GET", "/api/v1/projects")
    finally:
        client.close()
    profiles = read_profiles()
    profiles[profile] = Profile(server.rstrip("/"), api_key)
    path = write_profiles(profiles)
    names = ", ".join(p["name"] for p in projects) or "none"
    console.print(f"logged in to {server} as profile {profile!r} (projects: {names}); "
                  f"saved in {path}", highlight=False, soft_wrap=True)


def logout(profile: ProfileOpt = "default") -> None:
    """Forget a saved profile and its key."""
    profiles = read_profiles()
    if profile not in profiles:
        raise NotFound(f"no login profile {profile!r}")
    del profiles[profile]
    write_profiles(profiles)
    console.print(f"forgot profile {profile!r}")
