"""The API docs page works on a network without the internet (issue 14, item 7): every
file it loads comes from the hub itself, without a token."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import TestClient

LOADED = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


def test_the_docs_page_loads_only_files_the_hub_serves(client: TestClient[Any]) -> None:
    page = client.get("/schema")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    loaded = LOADED.findall(page.text)
    assert any(url.endswith("swagger-ui-bundle.js") for url in loaded)
    for url in loaded:
        assert url.startswith("/"), f"the page loads {url} from outside the hub"
        asset = client.get(url)  # no Authorization header: the page is public
        assert asset.status_code == 200, url
        assert asset.content, url
    assert "googleapis" not in page.text and "cdn." not in page.text


def test_asset_paths_stay_inside_the_packaged_files(client: TestClient[Any]) -> None:
    for path in ("/schema/assets/../../../etc/passwd", "/schema/assets/%2e%2e/%2e%2e/etc/hosts"):
        assert client.get(path).status_code in (404, 403), path
