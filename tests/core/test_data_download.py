"""download_release / open_release against a local HTTP server serving synthetic zips."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading
from pathlib import Path

import pytest

from widedeep_core.data import download_release, open_release, write_synthetic_zip
from widedeep_core.errors import DownloadError


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes: /<mode>/<name>.zip[.md5] where mode picks a behaviour."""

    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):
        srv = self.server
        srv.hits.append(self.path)
        _, mode, name = self.path.split("/", 2)
        body = srv.zip_bytes
        if name.endswith(".md5"):
            if mode in ("ok", "trunc"):
                digest = hashlib.md5(body).hexdigest()
                return self._send(f"MD5 (ml-100k.zip) = {digest}\n".encode())
            if mode == "badmd5":
                return self._send(b"MD5 (ml-100k.zip) = " + b"0" * 32 + b"\n")
            return self._send(b"not here", status=404)
        if mode == "missing":
            return self._send(b"not here", status=404)
        if mode == "corrupt":
            return self._send(b"PK\x03\x04" + b"garbage" * 100)
        if mode == "trunc":  # promise the whole file, send half, hang up
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return None
        return self._send(body)

    def _send(self, data: bytes, status: int = 200):
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    archive = write_synthetic_zip(
        tmp_path_factory.mktemp("srv") / "ml-100k.zip",
        "ml-100k",
        n_users=60,
        n_items=80,
        n_ratings=3000,
    )
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.zip_bytes = archive.read_bytes()
    httpd.hits = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _url(server, mode: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/{mode}/"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_with_progress_and_md5(server, tmp_path, monkeypatch):
    monkeypatch.setattr("widedeep_core.data.download._CHUNK", 4096)
    seen: list[tuple[int, int | None]] = []
    path = download_release(
        "ml-100k", tmp_path, base_url=_url(server, "ok"), progress=lambda d, t: seen.append((d, t))
    )
    assert path == tmp_path / "ml-100k.zip"
    assert path.read_bytes() == server.zip_bytes
    size = len(server.zip_bytes)
    assert seen[0] == (0, size) and seen[-1] == (size, size) and len(seen) > 3
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert _leftovers(tmp_path) == ["ml-100k.zip"]


def test_an_intact_earlier_download_is_reused(server, tmp_path):
    url = _url(server, "ok")
    first = download_release("ml-100k", tmp_path, base_url=url)
    before = len(server.hits)
    again = download_release("ml-100k", tmp_path, base_url=url)
    assert again == first and len(server.hits) == before
    download_release("ml-100k", tmp_path, base_url=url, force=True)
    assert len(server.hits) > before


def test_default_destination_is_the_user_cache(server):
    path = download_release("ml-100k", base_url=_url(server, "ok"))
    assert path.parent == Path(os.environ["WIDEDEEP_CACHE_DIR"]) / "downloads"


@pytest.mark.parametrize(
    ("mode", "expect"),
    [
        ("trunc", "incomplete|closed after"),
        ("badmd5", "differs from the published"),
        ("corrupt", "not a valid zip"),
        ("missing", "404"),
    ],
)
def test_failed_download_leaves_no_file(server, tmp_path, mode, expect):
    with pytest.raises(DownloadError, match=expect):
        download_release("ml-100k", tmp_path, base_url=_url(server, mode))
    assert _leftovers(tmp_path) == []


def test_a_broken_download_does_not_replace_a_good_one(server, tmp_path):
    good = download_release("ml-100k", tmp_path, base_url=_url(server, "ok"))
    with pytest.raises(DownloadError):
        download_release("ml-100k", tmp_path, base_url=_url(server, "trunc"), force=True)
    assert good.read_bytes() == server.zip_bytes
    assert _leftovers(tmp_path) == ["ml-100k.zip"]


def test_unreachable_server(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match=r"cannot reach 127\.0\.0\.1"):
        download_release("ml-1m", tmp_path, base_url=f"http://127.0.0.1:{port}/x/", timeout=5)
    assert _leftovers(tmp_path) == []


def test_cancel(server, tmp_path):
    event = threading.Event()
    event.set()
    with pytest.raises(DownloadError, match="cancelled"):
        download_release("ml-100k", tmp_path, base_url=_url(server, "ok"), cancel=event)
    with pytest.raises(DownloadError, match="cancelled"):
        download_release("ml-100k", tmp_path, base_url=_url(server, "ok"), cancel=lambda: True)
    assert _leftovers(tmp_path) == []


def test_unknown_release_name(tmp_path):
    with pytest.raises(DownloadError, match="ml-25m"):
        download_release("ml-7m", tmp_path)


def test_open_release_downloads_and_loads(server, tmp_path):
    data = open_release("ml-100k", tmp_path, base_url=_url(server, "ok"))
    assert data.layout == "ml-100k" and data.n_ratings == 3000
    assert data.source == (tmp_path / "ml-100k.zip").resolve()
