"""Create the benchmark's users in a Clarion database and mint their access tokens.

Run with DJANGO_SETTINGS_MODULE=clarion.server.settings and the stack's environment, after
``clarion migrate``. Users u0..u{N-1} are students (RoleAssignment rows), plus one admin
who creates notifications over REST. Bulk inserts, because creating 10,000 users one by one
with password hashing would take longer than the benchmark itself. Writes
{"users": [{"id", "token"}...], "admin": {"id", "token"}} to the output file.
"""

import argparse
import json
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth.models import User

    from clarion.auth.tokens import access_token_for
    from clarion.models import RoleAssignment

    started = time.time()
    # "!" is Django's unusable-password marker: these users never log in with a password.
    User.objects.bulk_create([User(username=f"u{i}", password="!") for i in range(args.count)]
                             + [User(username="bench-admin", password="!")], batch_size=2000)
    by_name = dict(User.objects.values_list("username", "id"))
    ids = [by_name[f"u{i}"] for i in range(args.count)]
    admin_id = by_name["bench-admin"]
    RoleAssignment.objects.bulk_create([RoleAssignment(user_id=uid, role="student") for uid in ids]
                                       + [RoleAssignment(user_id=admin_id, role="admin")], batch_size=2000)
    users = {u.pk: u for u in User.objects.filter(pk__in=ids + [admin_id])}
    out = {
        "users": [{"id": uid, "token": access_token_for(users[uid])} for uid in ids],
        "admin": {"id": admin_id, "token": access_token_for(users[admin_id])},
    }
    with open(args.out, "w") as fh:
        json.dump(out, fh)
    print(f"created {args.count} users + admin and their tokens in {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
