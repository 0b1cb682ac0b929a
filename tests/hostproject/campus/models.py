from django.contrib.auth.models import AbstractUser
from django.db import models


class Person(AbstractUser):
    """The host site's own user model: the role lives on the user."""

    class Role(models.TextChoices):
        STUDENT = "student", "Student"
        ADVISOR = "advisor", "Advisor"
        ADMIN = "admin", "Admin"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.STUDENT)
