"""Who may talk to the dashboard, and which requests may change state.

The dashboard approves models, and an approval redeploys the endpoint, so a page
on any other website must not be able to trigger it through the user's browser.
Binding to 127.0.0.1 does not stop that: a cross-origin form POST reaches
loopback, and DNS rebinding makes a foreign name resolve to 127.0.0.1. Four
checks, all in :meth:`Guard.refusal`:

1. **Host allow-list** (DNS rebinding): the ``Host`` header must be a name the
   dashboard was started for (loopback names by default, ``--allow-host`` adds).
2. **Access token** when the dashboard is reachable beyond loopback: the token is
   printed at start-up as a URL, as Jupyter does; ``?token=`` sets a
   ``SameSite=Strict`` cookie, and ``Authorization: Bearer`` works for scripts.
3. **Same origin** for every state-changing request: an ``Origin`` (or, without
   it, ``Referer``) naming another site is refused.
4. **CSRF token** on every state-changing request, in the form field
   :data:`CSRF_FIELD` or the :data:`CSRF_HEADER` header. Without sessions the
   token is a per-process secret: a foreign page cannot read it (the same-origin
   policy, with check 1 closing the rebinding hole).

State changes are POST only; GET, HEAD and OPTIONS never change anything.
"""

from __future__ import annotations

import getpass
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

#: Host names that always mean "this machine".
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
TOKEN_COOKIE = "scones_token"  # noqa: S105 - a cookie name, not a secret
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_loopback(host: str) -> bool:
    """True for names and addresses that only this machine can reach."""
    host = host.strip("[]")
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(host_header: str) -> str:
    """``Host`` header -> the lower-case name without the port (``[::1]:8090`` -> ``::1``)."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused, with the HTTP status to answer."""

    status: int
    message: str


@dataclass(frozen=True)
class Guard:
    """The dashboard's request checks; build with :meth:`for_binding`."""

    allowed_hosts: frozenset[str]
    access_token: str | None = None
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @classmethod
    def for_binding(cls, bind_host: str = "127.0.0.1", extra_hosts: tuple[str, ...] = (),
                    access_token: str | None = None) -> Guard:
        """The guard for a server bound to ``bind_host``.

        Beyond loopback an access token is required; one is generated when none is given.
        A wildcard bind (``0.0.0.0``) admits only the names listed in ``extra_hosts``.
        """
        hosts = set(LOOPBACK_HOSTS) | {h.lower().strip("[]") for h in extra_hosts}
        if bind_host not in ("0.0.0.0", "::", ""):  # noqa: S104 - compared, not bound
            hosts.add(bind_host.lower().strip("[]"))
        if access_token is None and not is_loopback(bind_host):
            access_token = secrets.token_urlsafe(24)
        return cls(frozenset(hosts), access_token or None)

    def refusal(self, method: str, host_header: str, headers, form_token: str | None,
                query_token: str | None, cookie_token: str | None, own_origin: str) -> Refusal | None:
        """None when the request may proceed, else the :class:`Refusal` to answer with."""
        name = host_name(host_header or "")
        if name not in self.allowed_hosts:
            allowed = ", ".join(sorted(self.allowed_hosts))
            return Refusal(400, f"Host {name!r} is not allowed here (allowed: {allowed}); "
                                "start the dashboard with --allow-host NAME to add one")
        if self.access_token and not self._authenticated(headers, query_token, cookie_token):
            return Refusal(401, "this dashboard needs its access token: open the URL with ?token=... that "
                                "`scones ui` printed at start-up")
        if method.upper() in SAFE_METHODS:
            return None
        origin = headers.get("Origin")
        if origin is None and headers.get("Referer"):
            parts = urlsplit(headers["Referer"])
            origin = f"{parts.scheme}://{parts.netloc}"
        if origin is not None and origin.lower() != own_origin.lower():
            return Refusal(403, f"cross-site request refused: origin {origin!r} is not this dashboard ({own_origin})")
        sent = form_token or headers.get(CSRF_HEADER) or ""
        if not hmac.compare_digest(sent.encode(), self.csrf_token.encode()):
            return Refusal(403, "missing or wrong CSRF token: submit the dashboard's own form (reload the page)")
        return None

    def _authenticated(self, headers, query_token: str | None, cookie_token: str | None) -> bool:
        bearer = headers.get("Authorization", "")
        candidates = [query_token, cookie_token, bearer[7:] if bearer.startswith("Bearer ") else None]
        expected = self.access_token.encode()
        return any(c and hmac.compare_digest(c.encode(), expected) for c in candidates)

    def who(self, remote_addr: str | None) -> str:
        """The name recorded with an approval: the OS user, and the client's address when it is remote."""
        user = getpass.getuser()
        if remote_addr and not is_loopback(remote_addr):
            return f"{user} (token holder at {remote_addr})"
        return user
