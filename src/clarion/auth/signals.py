"""Saving a user with a new password or as inactive, or deleting one, ends their sessions; and
every failed or successful sign-in reaches the per-account lockout (clarion.auth.lockout).

Connected in ClarionConfig.ready. Only ``save()`` and ``delete()`` send these signals: a
queryset ``update(is_active=False)`` bypasses them, so code that deactivates users in bulk
calls clarion.auth.revocation.end_sessions for each (docs/security.md).
"""

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_delete, post_save, pre_save

from clarion.auth import lockout, revocation

_WATCHED = ("password", "is_active")
_FLAG = "_clarion_end_sessions"


def _watched_fields(model) -> list[str]:
    names = {field.attname for field in model._meta.concrete_fields}
    return [name for name in _WATCHED if name in names]


def _before_save(sender, instance, raw=False, update_fields=None, **kwargs):
    if raw or instance.pk is None or instance._state.adding:
        return
    fields = _watched_fields(sender)
    if update_fields is not None:
        fields = [name for name in fields if name in update_fields]
    if not fields:
        return
    old = sender._default_manager.filter(pk=instance.pk).values(*fields).first()
    if old is None:
        return
    if "password" in old and old["password"] != instance.password:
        setattr(instance, _FLAG, "password_changed")
    elif old.get("is_active") and not getattr(instance, "is_active", True):
        setattr(instance, _FLAG, "deactivated")


def _after_save(sender, instance, created=False, raw=False, **kwargs):
    reason = instance.__dict__.pop(_FLAG, None)
    if reason and not raw:
        revocation.end_sessions(instance, reason)


def _after_delete(sender, instance, **kwargs):
    revocation.close_sockets(instance.pk)


def connect() -> None:
    model = settings.AUTH_USER_MODEL  # a lazy reference: the user model may load later
    pre_save.connect(_before_save, sender=model, dispatch_uid="clarion.auth.before_save")
    post_save.connect(_after_save, sender=model, dispatch_uid="clarion.auth.after_save")
    post_delete.connect(_after_delete, sender=model, dispatch_uid="clarion.auth.after_delete")
    # Failed and successful sign-ins through any authenticate()/login() (clarion.auth.lockout).
    user_login_failed.connect(lockout.on_login_failed, dispatch_uid="clarion.auth.lockout.failed")
    user_logged_in.connect(lockout.on_logged_in, dispatch_uid="clarion.auth.lockout.logged_in")
