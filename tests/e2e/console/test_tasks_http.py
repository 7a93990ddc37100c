"""The Tasks pages without a browser: who may do what (a viewer or auditor sees no task
and a forged claim or completion is 403 with the task left open; a user outside the
task's groups gets the service's 403 as a message), hostile and malformed input (each a
4xx with the problem by its field and the input kept, never a 500), no inline code."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.e2e.console.harness import ConsoleWorld, http_session, page_csrf
from tests.e2e.console.tasks_support import PIN, TasksTenant, tasks_tenant
from tests.e2e.console.test_security import _inline_code


@pytest.fixture(scope="module")
def tenant(console: ConsoleWorld) -> TasksTenant:
    return tasks_tenant(console)


def _csrf(client: httpx.Client, tenant: TasksTenant) -> str:
    return page_csrf(client.get(f"/ui/t/{tenant.slug}/").text)


def _problem(html: str, field: str) -> str:
    found = re.search(rf'id="task-field-{field}-problem">(.*?)</p>', html, re.S)
    assert found, f"no problem shown by the field {field!r}"
    return found.group(1)


@pytest.mark.parametrize("role", ["viewer", "auditor"])
def test_roles_without_tasks_see_none_and_a_forged_post_is_403(
    tenant: TasksTenant, role: str
) -> None:
    run_id = tenant.start()
    task = tenant.task_of(run_id)
    pages = f"/ui/t/{tenant.slug}/tasks"
    with http_session(tenant.world, tenant.user(role)) as client:
        overview = client.get(f"/ui/t/{tenant.slug}/")
        assert overview.status_code == 200
        assert f'href="{pages}/"' not in overview.text  # no Tasks in the nav
        for path in (f"{pages}/", f"{pages}/live", f"{pages}/{task['id']}"):
            refused = client.get(path)
            assert refused.status_code == 403, path
            assert "Complete task" not in refused.text and "Claim" not in refused.text
        token = page_csrf(overview.text)
        claim = client.post(f"{pages}/{task['id']}/claim", data={"csrf_token": token})
        assert claim.status_code == 403
        complete = client.post(
            f"{pages}/{task['id']}/complete",
            data={
                "csrf_token": token,
                "field.count": "1",
                "field.passed": "true",
                "field.grade": "0",
                "field.pin": PIN,
            },
        )
        assert complete.status_code == 403
        assert "Not allowed" in complete.text and "Traceback" not in complete.text
    after = tenant.task_of(run_id)
    assert after["status"] == "open" and after["claimed_by"] is None
    assert tenant.run(run_id)["status"] == "waiting"


def test_a_post_without_the_csrf_token_is_403(tenant: TasksTenant) -> None:
    run_id = tenant.start()
    task = tenant.task_of(run_id)
    with http_session(tenant.world, tenant.user("operator")) as client:
        path = f"/ui/t/{tenant.slug}/tasks/{task['id']}"
        assert client.post(f"{path}/claim").status_code == 403
        blind = client.post(f"{path}/complete", data={"field.count": "1", "csrf_token": "x"})
        assert blind.status_code == 403
    assert tenant.task_of(run_id)["status"] == "open"


def test_outside_the_candidate_groups_no_form_and_a_forged_post_is_a_403_message(
    tenant: TasksTenant,
) -> None:
    run_id = tenant.start()
    task = tenant.task_of(run_id)
    path = f"/ui/t/{tenant.slug}/tasks/{task['id']}"
    # The engineer may read and act on tasks, but this one is offered to operators.
    with http_session(tenant.world, tenant.user("engineer")) as client:
        shown = client.get(path)
        assert shown.status_code == 200
        assert "Only the assignee or a member of a candidate group" in shown.text
        assert 'id="task-form"' not in shown.text and ">Claim<" not in shown.text
        token = page_csrf(shown.text)
        claim = client.post(f"{path}/claim", data={"csrf_token": token})
        assert claim.status_code == 403
        assert "only the assignee or a member of a candidate group" in claim.text
        complete = client.post(
            f"{path}/complete",
            data={"csrf_token": token, "field.count": "1", "field.pin": PIN},
        )
        assert complete.status_code == 403
        assert PIN not in complete.text
    assert tenant.task_of(run_id)["status"] == "open"


def test_bad_input_is_422_by_each_field_with_the_input_kept(tenant: TasksTenant) -> None:
    run_id = tenant.start()
    task = tenant.task_of(run_id)
    path = f"/ui/t/{tenant.slug}/tasks/{task['id']}"
    with http_session(tenant.world, tenant.user("operator")) as client:
        token = _csrf(client, tenant)
        refused = client.post(
            f"{path}/complete",
            data={
                "csrf_token": token,
                "field.notes": "<script>alert(1)</script>",
                "field.count": "twelve",
                "field.weight": "1e400",
                "field.passed": "maybe",
                "field.grade": "7",
                "field.day": "2024-02-30",
                "field.at": "yesterday",
                "field.pin": "",  # required, missing
                "field.nosuch": "ignored",
                "values": "{}",
            },
        )
        assert refused.status_code == 422
        html = refused.text
        assert "Traceback" not in html
        assert "must be an integer" in _problem(html, "count")
        assert "must be a number" in _problem(html, "weight")
        assert "true or false" in _problem(html, "passed")
        assert "must be one of" in _problem(html, "grade")
        assert "YYYY-MM-DD" in _problem(html, "day")
        assert "date-time" in _problem(html, "at")
        assert "required" in _problem(html, "pin")
        assert 'id="task-field-notes-problem"' not in html
        # what was typed is kept, as text (the number and date inputs that could not
        # show it become text inputs), escaped
        assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in html
        assert "<script>alert(1)" not in html
        assert re.search(
            r'type="text" id="task-field-count" name="field.count" value="twelve"', html
        )
        assert re.search(
            r'type="text" id="task-field-day" name="field.day" value="2024-02-30"', html
        )
        assert 'value="yesterday"' in html
        assert _inline_code(html) == []

        # Right values, but the secret typed with a wrong count: the secret is not echoed.
        again = client.post(
            f"{path}/complete",
            data={
                "csrf_token": token,
                "field.count": "1.5",
                "field.passed": "true",
                "field.grade": "0",
                "field.pin": PIN,
            },
        )
        assert again.status_code == 422
        assert "must be an integer" in _problem(again.text, "count")
        assert PIN not in again.text
        assert 'id="task-field-pin-problem"' not in again.text
    assert tenant.task_of(run_id)["status"] == "open"


def test_done_twice_is_409_and_unknown_tasks_are_404(tenant: TasksTenant) -> None:
    run_id = tenant.start()
    task = tenant.task_of(run_id)
    path = f"/ui/t/{tenant.slug}/tasks/{task['id']}"
    values = {"field.count": "3", "field.passed": "false", "field.grade": "1", "field.pin": PIN}
    with http_session(tenant.world, tenant.user("operator")) as client:
        token = _csrf(client, tenant)
        claimed = client.post(f"{path}/claim", data={"csrf_token": token})
        assert claimed.status_code == 303 and claimed.headers["location"] == path
        twice = client.post(f"{path}/claim", data={"csrf_token": token})
        assert twice.status_code == 409
        assert "is claimed" in twice.text
        done = client.post(f"{path}/complete", data={"csrf_token": token, **values})
        assert done.status_code == 303
        assert done.headers["location"] == f"/ui/t/{tenant.slug}/tasks/?completed={task['id']}"
        listed = client.get(done.headers["location"])
        assert 'id="task-completed"' in listed.text
        again = client.post(f"{path}/complete", data={"csrf_token": token, **values})
        assert again.status_code == 409
        assert "already completed" in again.text and PIN not in again.text
        assert tenant.run(run_id)["output"]["count"] == 3

        for bad in ("0123456789abcdef0123456789abcdef", "nope", "..%2F..%2Fadmin"):
            missing = client.get(f"/ui/t/{tenant.slug}/tasks/{bad}")
            assert missing.status_code == 404, bad
            posted = client.post(
                f"/ui/t/{tenant.slug}/tasks/{bad}/complete", data={"csrf_token": token}
            )
            assert posted.status_code == 404, bad
        # another tenant's task is not found from this one (acme: the operator's other
        # tenant would need a role there; the service looks the task up in the tenant)
        with http_session(tenant.world, "acme-operator") as outsider:
            assert outsider.get(f"/ui/t/acme/tasks/{task['id']}").status_code == 404
            assert outsider.get(f"/ui/t/{tenant.slug}/tasks/{task['id']}").status_code == 404
        too_long = client.get(f"/ui/t/{tenant.slug}/tasks/{'a' * 65}")
        assert 400 <= too_long.status_code < 500
        # a completed= that is not a task is ignored
        odd = client.get(f"/ui/t/{tenant.slug}/tasks/", params={"completed": "<b>x</b>"})
        assert odd.status_code == 200 and "<b>x</b>" not in odd.text


def test_the_pages_have_no_inline_code(tenant: TasksTenant) -> None:
    task = tenant.task_of(tenant.start())
    with http_session(tenant.world, tenant.user("operator")) as client:
        for path in ("", "live", task["id"]):
            response = client.get(f"/ui/t/{tenant.slug}/tasks/{path}")
            assert response.status_code == 200, path
            assert _inline_code(response.text) == [], path
            assert response.headers["cache-control"] == "no-store"
