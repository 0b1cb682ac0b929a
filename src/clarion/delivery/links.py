"""Links that leave the site: in mails and pushes they must be absolute (CLARION["SITE_URL"])."""

from urllib.parse import urlsplit

from clarion.conf import clarion_settings


def site_url() -> str:
    return (clarion_settings.SITE_URL or "").rstrip("/")


def absolute(path: str) -> str:
    """``path`` on the site ("/projects/7/" -> "https://site/projects/7/"); a link that is
    already absolute is kept."""
    if urlsplit(path).scheme in ("http", "https"):
        return path
    return site_url() + "/" + path.lstrip("/")


def mail_domain() -> str:
    return urlsplit(site_url()).hostname or "localhost"
