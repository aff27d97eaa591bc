"""Whether a URL a caller sends is a link to this server (a /store link, read as the stored image it names) or
another host's, which is fetched as any image URL is."""

from urllib.parse import SplitResult

from django.conf import settings
from django.http import HttpRequest
from django.http.request import split_domain_port, validate_host

from removal.fetch import DEFAULT_PORTS


def on_this_server(request: HttpRequest, link: SplitResult) -> bool:
    """Whether `link` points at this server: a bare path, or an http(s) URL at the port the request came to and at
    its host or another name the server answers to (ALLOWED_HOSTS; '*' names no host: it lets any name in)."""
    if not link.scheme and not link.netloc:
        return link.path.startswith("/")
    scheme, (name, port) = link.scheme.lower(), split_domain_port(link.netloc.rpartition("@")[2])
    own_name, own_port = split_domain_port(request.get_host())
    if scheme not in DEFAULT_PORTS or not name:
        return False
    if int(port or DEFAULT_PORTS[scheme]) != int(own_port or DEFAULT_PORTS[request.scheme or "http"]):
        return False
    return name == own_name or validate_host(name, [host for host in settings.ALLOWED_HOSTS if host != "*"])
