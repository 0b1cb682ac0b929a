"""The site's notion of role, handed to Clarion through CLARION["ROLE_RESOLVER"]."""


def person_role(user):
    return user.role
