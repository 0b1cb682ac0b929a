"""The replayed user lookup (clarion.auth.user_lookup) answers exactly what the queryset that
defines it answers: the same user, role and session cutoff, and nobody for an id that is not one.
"""

import pytest
from django.contrib.auth.models import User

from clarion.auth import user_lookup
from clarion.auth.models import SessionCutoff

pytestmark = pytest.mark.django_db


def orm_answer(field, value):
    try:
        found = list(user_lookup.queryset(field, value))
    except (TypeError, ValueError):
        return None
    return found[0] if found else None


def same_user(replayed, defined):
    assert (replayed is None) == (defined is None)
    if defined is None:
        return
    own = [f.attname for f in User._meta.concrete_fields]
    assert [getattr(replayed, a) for a in own] == [getattr(defined, a) for a in own]
    assert replayed.clarion_role.role == defined.clarion_role.role
    assert replayed._state.db == defined._state.db and not replayed._state.adding


def test_a_user_comes_with_the_role_and_the_cutoff_without_more_queries(people, django_assert_num_queries):
    SessionCutoff.objects.create(user=people["carol"], not_before=1_800_000_000)
    with django_assert_num_queries(1):
        carol = user_lookup.load("id", people["carol"].pk)
        assert carol.clarion_role.role == "advisor"
        assert carol.clarion_session_cutoff.not_before == 1_800_000_000
    same_user(carol, orm_answer("id", people["carol"].pk))


def test_a_user_without_a_cutoff_has_none_and_asks_nothing_more(people, django_assert_num_queries):
    with django_assert_num_queries(1):
        alice = user_lookup.load("id", people["alice"].pk)
        with pytest.raises(SessionCutoff.DoesNotExist):
            alice.clarion_session_cutoff  # noqa: B018 - the cached absence, not a query
    same_user(alice, orm_answer("id", people["alice"].pk))


@pytest.mark.parametrize("claim", ["7", 7.0, "abc", "", -1, 2**80, -(2**80), None, True, "1 OR 1=1"])
def test_ids_that_are_not_a_user_answer_as_the_queryset_does(people, claim):
    same_user(user_lookup.load("id", claim), orm_answer("id", claim))


def test_a_string_id_of_a_real_user_finds_them_as_the_orm_does(people):
    bob = people["bob"]
    same_user(user_lookup.load("id", str(bob.pk)), bob)
    same_user(user_lookup.load("pk", bob.pk), bob)


def test_a_deactivated_user_is_loaded_as_they_are(people):
    User.objects.filter(pk=people["bob"].pk).update(is_active=False)
    assert user_lookup.load("id", people["bob"].pk).is_active is False


def test_another_field_compiles_its_own_statement(people):
    same_user(user_lookup.load("username", "dave"), people["dave"])
    assert user_lookup.load("username", "nobody") is None
