"""Every field of the project API that names a user, against users who must not be named there
(issue 10, finding 5: an advisor could make a student the project's advisor, and with it give
the student the advisor's powers over the project)."""

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from clarion.auth.tokens import access_token_for
from clarion.projects import services
from clarion.projects.models import Project, ProjectStatus

pytestmark = pytest.mark.django_db(transaction=True)


def client_for(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
    return client


@pytest.fixture
def cast(people, make_user):
    ProjectStatus.objects.get_or_create(slug="proposal", defaults={"label": "Proposal", "position": 0})
    project = services.create_project(title="Thesis", advisor=people["carol"], members=[people["alice"]])
    return {**people, "erin": make_user("erin", "advisor"), "nobody": make_user("nobody"),
            "former": make_user("former", "advisor", is_active=False), "project": project}


def test_an_advisor_cannot_make_a_student_the_advisor(cast):
    carol, alice, project = cast["carol"], cast["alice"], cast["project"]
    response = client_for(carol).patch(f"/api/projects/{project.pk}/", {"advisor": alice.pk}, format="json")
    assert response.status_code == 400, response.content
    assert "advisor" in response.json() and "advisor or admin role" in response.json()["advisor"][0]
    project.refresh_from_db()
    assert project.advisor_id == carol.pk
    # the student gained nothing: still no say over the status
    denied = client_for(alice).patch(f"/api/projects/{project.pk}/", {"status": "proposal"}, format="json")
    assert denied.status_code == 403


@pytest.mark.parametrize("who", ["alice", "nobody", "former"])
def test_only_advisors_and_admins_can_be_named_advisor_on_create_and_update(cast, who):
    """Students, users without a role and inactive advisors: 400 naming the field, on create
    and on update, by an admin as by an advisor; nothing stored or changed."""
    wrong, project = cast[who], cast["project"]
    for actor in (cast["dave"], cast["carol"]):
        created = client_for(actor).post("/api/projects/", {"title": "New", "advisor": wrong.pk}, format="json")
        assert created.status_code == 400 and list(created.json()) == ["advisor"], created.content
        patched = client_for(actor).patch(f"/api/projects/{project.pk}/", {"advisor": wrong.pk}, format="json")
        assert patched.status_code == 400 and list(patched.json()) == ["advisor"], patched.content
    assert not Project.objects.filter(title="New").exists()
    project.refresh_from_db()
    assert project.advisor_id == cast["carol"].pk


def test_advisors_admins_and_superusers_can_be_named_advisor(cast, make_user):
    root = make_user("root", is_superuser=True)
    project, admin = cast["project"], client_for(cast["dave"])
    for right in (cast["erin"], cast["dave"], root, cast["carol"]):
        response = admin.patch(f"/api/projects/{project.pk}/", {"advisor": right.pk}, format="json")
        assert response.status_code == 200 and response.json()["advisor"] == right.pk, response.content
    created = admin.post("/api/projects/", {"title": "Other", "advisor": cast["erin"].pk}, format="json")
    assert created.status_code == 201 and created.json()["advisor"] == cast["erin"].pk
    assert admin.patch(f"/api/projects/{project.pk}/", {"advisor": None}, format="json").json()["advisor"] is None


def test_the_python_api_refuses_a_student_advisor_too(cast):
    with pytest.raises(ValidationError) as refused:
        services.create_project(title="Py", advisor=cast["alice"])
    assert "advisor" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        services.update_project(cast["project"], advisor=cast["bob"])
    assert "advisor" in refused.value.message_dict
    assert not Project.objects.filter(title="Py").exists()
    assert Project.objects.get(pk=cast["project"].pk).advisor_id == cast["carol"].pk


def test_every_other_field_naming_a_user_answers_with_a_field_error(cast):
    """members (create), user (add a member), the member id in the path (remove): an unknown
    or out-of-range id is a 400 naming the field, or a 404 for the path, never a 500; members may
    be any user (students are the point)."""
    admin, project = client_for(cast["dave"]), cast["project"]
    for bad in (999999, 2**63):
        created = admin.post("/api/projects/", {"title": "M", "members": [cast["bob"].pk, bad]}, format="json")
        assert created.status_code == 400 and list(created.json()) == ["members"], created.content
        added = admin.post(f"/api/projects/{project.pk}/members/", {"user": bad}, format="json")
        assert added.status_code == 400 and list(added.json()) == ["user"], added.content
        assert admin.delete(f"/api/projects/{project.pk}/members/{bad}/").status_code == 404
    assert not Project.objects.filter(title="M").exists()
    created = admin.post("/api/projects/", {"title": "M", "members": [cast["bob"].pk, cast["erin"].pk]},
                         format="json")
    assert created.status_code == 201 and created.json()["members"] == sorted([cast["bob"].pk, cast["erin"].pk])
    added = admin.post(f"/api/projects/{project.pk}/members/", {"user": cast["bob"].pk}, format="json")
    assert added.status_code == 200 and cast["bob"].pk in added.json()["members"]
    # members cannot be changed through PATCH (the field is ignored there, not half-applied)
    patched = admin.patch(f"/api/projects/{project.pk}/", {"members": [cast["nobody"].pk]}, format="json")
    assert patched.status_code == 200 and cast["nobody"].pk not in patched.json()["members"]


def test_a_change_racing_the_projects_deletion_is_a_404_not_a_500_or_a_resurrection(cast, monkeypatch):
    """Found by schemathesis on PostgreSQL: a PATCH whose event was inserted while a DELETE ran
    made the DELETE's commit fail on the foreign key (500). Changes now hold the project row, so
    one waits for the other; a change that comes second finds the project gone."""
    dave, project = cast["dave"], cast["project"]
    stale = Project.objects.get(pk=project.pk)  # fetched by a request just before the delete
    assert client_for(dave).delete(f"/api/projects/{project.pk}/").status_code == 204
    with pytest.raises(services.ProjectGone):
        services.update_project(stale, title="Renamed after deletion")
    with pytest.raises(services.ProjectGone):
        services.add_comment(stale, "too late", dave)
    assert not Project.objects.filter(pk=project.pk).exists()  # save() did not re-create it

    # Over REST, the view that loaded the project just before the delete answers 404.
    from clarion.api import projects as api_projects

    again = services.create_project(title="Thesis 2", advisor=cast["carol"], members=[cast["alice"]])
    loaded = Project.objects.get(pk=again.pk)
    Project.objects.filter(pk=again.pk).delete()
    monkeypatch.setattr(api_projects.ProjectViewSet, "_project", lambda self, pk: loaded)
    response = client_for(dave).patch(f"/api/projects/{again.pk}/", {"title": "x"}, format="json")
    assert response.status_code == 404, response.content
