"""Route templates: `{name}` segments reach the handler as `path_params`; exact routes win."""
import pytest

from core.http import HttpError, Response
from agent.http.server import HttpServer, match_template


@pytest.mark.parametrize("template,path,want", [
    ("/api/v2/silence/{id}", "/api/v2/silence/abc", {"id": "abc"}),
    ("/api/v2/silence/{id}", "/api/v2/silence/a%2Fb", {"id": "a/b"}),
    ("/api/v2/silence/{id}", "/api/v2/silence/", None),
    ("/api/v2/silence/{id}", "/api/v2/silence/a/b", None),
    ("/ui/alerts/{id}/actions/{n}", "/ui/alerts/7/actions/2", {"id": "7", "n": "2"}),
    ("/healthz", "/healthz", {}),
    ("/healthz", "/healthzz", None),
])
def test_match_template(template, path, want):
    assert match_template(template, path) == want


def test_exact_routes_win_and_methods_are_told_apart():
    srv = HttpServer()
    srv.add_routes({("GET", "/x/{id}"): lambda r: Response.json({"t": r.path_params["id"]}),
                    ("GET", "/x/special"): lambda r: Response.json({"exact": True})})
    h, params = srv.match("GET", "/x/special")
    assert params == {} and h(None).body == b'{"exact":true}'
    h, params = srv.match("GET", "/x/42")
    assert params == {"id": "42"}
    with pytest.raises(HttpError) as e:
        srv.match("DELETE", "/x/42")
    assert e.value.status == 405
    with pytest.raises(HttpError) as e:
        srv.match("GET", "/y/42")
    assert e.value.status == 404
